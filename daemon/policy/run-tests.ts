/**
 * Run a policy file's own `tests:` against its rules. A failure names the pair (and port), what the
 * test wanted and what the policy gives, with the rule that decided. Pure.
 */
import type { CompiledPolicy } from './compiled.js'
import type { Expectation, PolicyTest } from './types.js'

export interface TestResult {
  readonly test: PolicyTest
  readonly passed: boolean
  /** What the policy gives. */
  readonly got: Expectation
  /** One line: the pair, the port, wanted vs got, and why. */
  readonly summary: string
}

export function runPolicyTests(policy: CompiledPolicy): TestResult[] {
  return policy.tests.map((test) => runOne(policy, test))
}

function runOne(policy: CompiledPolicy, test: PolicyTest): TestResult {
  const proto = test.port?.protocol
  const port = test.port === undefined || test.port.low === 0 ? undefined : test.port.low
  const verdict = policy.explain(test.from, test.to, proto, port)
  const got: Expectation = verdict.allowed ? 'allow' : 'deny'
  const passed = got === test.expect
  const on = test.port === undefined ? '' : ` on ${test.port.text}`
  const where = `${policy.file}:${test.pos.line}:${test.pos.col}`
  const pair = `${test.from} → ${test.to}${on}`
  let why: string
  if (verdict.rule !== undefined) {
    const ports = policy.portsOf(test.from, test.to) ?? []
    const scope = ports.length === 0 ? 'any protocol' : ports.join(', ')
    const line = verdict.rule.pos.line
    why = verdict.allowed
      ? `the rule at line ${line} allows ${scope}`
      : `the rule at line ${line} allows this pair only ${scope}`
  } else if (verdict.reverse !== undefined) {
    why = `no rule allows this direction (default deny); the rule at line ${verdict.reverse.pos.line} allows only the reverse direction, and rules are directional`
  } else {
    why = 'no rule allows this pair (default deny)'
  }
  const summary = passed
    ? `PASS ${where}: ${pair}: ${got}, as expected; ${why}`
    : `FAIL ${where}: ${pair}: wanted ${test.expect}, policy gives ${got}; ${why}`
  return { test, passed, got, summary }
}

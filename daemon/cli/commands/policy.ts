/**
 * latchctl policy check FILE [--json]   validate a policy file; every problem as FILE:LINE:COL: message
 * latchctl policy test FILE [--json] [--datapath]
 *                                       run the file's tests: section; --datapath also runs each test's
 *                                       packets through the real eBPF programs (root; see
 *                                       engine/policy-datapath-test.ts)
 * Both only read the file (--datapath loads the programs into scratch pin dirs and removes them). Failures are LatchErrors, printed and mapped to exit codes by cli/report.ts.
 */
import type { Command } from 'commander'
import { LatchError } from '../../base/errors.js'
import { type DatapathTestResult, runPolicyTestsOnDatapath } from '../../engine/policy-datapath-test.js'
import { type CompiledPolicy, loadPolicyFile, runPolicyTests, type TestResult } from '../../policy/index.js'

interface JsonOption {
  json?: boolean
}

interface TestOptions extends JsonOption {
  datapath?: boolean
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function summaryOf(policy: CompiledPolicy): Record<string, unknown> {
  return {
    file: policy.file,
    trustDomain: policy.trustDomain,
    rules: policy.rules.length,
    identities: policy.identities.length,
    pairs: policy.allowedPairs().length,
    tests: policy.tests.length,
    digest: policy.digest,
  }
}

async function check(file: string, opts: JsonOption): Promise<void> {
  const policy = await loadPolicyFile(file)
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ ok: true, ...summaryOf(policy) })}\n`)
    return
  }
  const deny = policy.rules.length === 0 ? ' (denies everything)' : ''
  process.stdout.write(
    `OK ${file}: trust domain ${policy.trustDomain}, ${plural(policy.rules.length, 'rule')}${deny}, ` +
      `${policy.identities.length} ${policy.identities.length === 1 ? 'identity' : 'identities'}, ` +
      `${plural(policy.allowedPairs().length, 'identity pair')}, ${plural(policy.tests.length, 'test')}\n`,
  )
}

async function test(file: string, opts: TestOptions): Promise<void> {
  const policy = await loadPolicyFile(file)
  if (policy.tests.length === 0) {
    throw new LatchError('LATCH_ERR_POLICY_NO_TESTS', `${file} has no tests: section (or it is empty)`, {
      details: { file },
    })
  }
  const results: (TestResult | DatapathTestResult)[] = opts.datapath
    ? runPolicyTestsOnDatapath(policy)
    : runPolicyTests(policy)
  const failed = results.filter((r) => !r.passed)
  if (opts.json) {
    const rows = results.map((r) => ({
      line: r.test.pos.line,
      col: r.test.pos.col,
      from: r.test.from,
      to: r.test.to,
      port: r.test.port?.text ?? null,
      expect: r.test.expect,
      got: r.got,
      passed: r.passed,
      summary: r.summary,
      ...('kernel' in r ? { probe: r.probe, kernel: r.kernel, steps: r.steps } : {}),
    }))
    const out = {
      ok: failed.length === 0,
      file,
      passed: results.length - failed.length,
      failed: failed.length,
    }
    process.stdout.write(`${JSON.stringify({ ...out, results: rows })}\n`)
  } else {
    for (const r of results) process.stdout.write(`${r.summary}\n`)
    process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`)
  }
  if (failed.length > 0) {
    throw new LatchError(
      'LATCH_ERR_POLICY_TEST_FAILED',
      `${failed.length} of ${results.length} policy tests failed`,
      {
        details: { file, failed: failed.map((r) => r.summary) },
      },
    )
  }
}

export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('check and test policy files (which identity pairs may talk)')
  policy
    .command('check')
    .description('validate a policy file; prints every problem as FILE:LINE:COL: message')
    .argument('<file>', 'the policy file (YAML)')
    .option('--json', 'print one JSON object')
    .action(check)
  policy
    .command('test')
    .description("run the policy file's tests: section; exits non-zero when any test fails")
    .argument('<file>', 'the policy file (YAML)')
    .option('--json', 'print one JSON object')
    .option(
      '--datapath',
      'also run each test through the real eBPF programs with BPF_PROG_TEST_RUN (first packet, reply, reverse new flow); needs root',
    )
    .action(test)
}

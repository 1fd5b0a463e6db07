/**
 * Validate a parsed policy document and turn it into plain rules and tests. Reports every problem
 * it finds (not just the first), each with line, column, what is wrong and what to write. Pure.
 */
import { isScalar, type Node } from 'yaml'
import { type Entry, FieldChecker, type Fields, POLICY_VERSION } from './fields.js'
import { MAX_PORT_RANGES, PortSet } from './ports.js'
import type { PolicyRule, PolicyTest } from './types.js'
import type { Problems } from './yaml-source.js'

export { POLICY_VERSION }

export interface ValidatedPolicy {
  readonly trustDomain: string
  readonly rules: readonly PolicyRule[]
  readonly tests: readonly PolicyTest[]
}

const TOP: Fields = { required: ['version', 'trustDomain', 'allow'], optional: ['tests'] }
const RULE: Fields = { required: ['from', 'to'], optional: ['ports'] }
const TEST: Fields = { required: ['from', 'to', 'expect'], optional: ['port'] }

const RULE_EXAMPLE = '{from: spiffe://td/ns/a/sa/x, to: spiffe://td/ns/b/sa/y, ports: [tcp/443]}'
const TEST_EXAMPLE = '{from: spiffe://td/ns/a/sa/x, to: spiffe://td/ns/b/sa/y, port: tcp/443, expect: allow}'

/**
 * The most rules one policy may have: one entry each in the datapath's policy map
 * (LATCH_POLICY_MAX of bpf/include/latch_abi.h; a test keeps the two equal).
 */
export const MAX_RULES = 262_144

/** Validate the whole document. Returns undefined when any problem was found. */
export function validatePolicy(
  root: Node | null,
  problems: Problems,
  maxRules = MAX_RULES,
): ValidatedPolicy | undefined {
  const v = new FieldChecker(problems)
  if (root === null || (isScalar(root) && root.value === null)) {
    problems.at(
      root,
      '',
      `the policy file is empty; it starts with version: ${POLICY_VERSION}, trustDomain: and allow:`,
    )
    return undefined
  }
  const top = v.entries(
    root,
    '',
    'the policy file',
    TOP,
    `version: ${POLICY_VERSION} / trustDomain: / allow:`,
  )
  if (top === undefined) return undefined
  v.version(top.get('version'))
  v.trustDomain(top.get('trustDomain'))
  const rules = checkRules(v, top.get('allow'), maxRules)
  const tests = checkTests(v, top.get('tests'))
  if (problems.count > 0 || v.trustDomainName === undefined) return undefined
  return { trustDomain: v.trustDomainName, rules, tests }
}

function checkRules(v: FieldChecker, pair: Entry | undefined, maxRules: number): PolicyRule[] {
  if (pair === undefined) return []
  const items = v.list(pair, 'allow', RULE_EXAMPLE)
  if (items === undefined) return []
  if (items.length > maxRules) {
    // refused before any rule is checked: the kernel's policy map holds one entry per rule
    v.problems.at(
      items[maxRules] ?? null,
      `allow[${maxRules}]`,
      `the policy has ${items.length} rules; latch enforces at most ${maxRules} (one datapath policy-map entry per rule): this is rule ${maxRules + 1}`,
    )
    return []
  }
  const rules: PolicyRule[] = []
  const firstByPair = new Map<string, { line: number; index: number }>()
  items.forEach((item, i) => {
    const path = `allow[${i}]`
    const fields = v.entries(item, path, `allow rule ${path}`, RULE, RULE_EXAMPLE)
    if (fields === undefined) return
    const from = v.identity(fields.get('from'), `${path}.from`, { node: true })
    const to = v.identity(fields.get('to'), `${path}.to`)
    const ports = v.ports(fields.get('ports'), `${path}.ports`)
    if (from === undefined || to === undefined || ports === null) return
    const ranges = ports === undefined ? 0 : PortSet.of(ports).describe().length
    if (ranges > MAX_PORT_RANGES) {
      v.problems.at(
        item,
        path,
        `${from} → ${to} allows ${ranges} separate port ranges; the datapath holds at most ${MAX_PORT_RANGES} per rule: join neighbouring ports into ranges (e.g. tcp/8000-8010) or leave out ports:`,
      )
      return
    }
    const pos = v.problems.posOfNode(item)
    const key = `${from}\n${to}`
    const first = firstByPair.get(key)
    if (first !== undefined) {
      v.problems.at(
        item,
        path,
        `duplicate rule: ${from} → ${to} is already allowed by allow[${first.index}] at line ${first.line}; merge the ports into that rule and delete this one`,
      )
      return
    }
    firstByPair.set(key, { line: pos.line, index: i })
    rules.push(
      Object.freeze({ from, to, ports: ports === undefined ? undefined : Object.freeze(ports), pos }),
    )
  })
  return rules
}

function checkTests(v: FieldChecker, pair: Entry | undefined): PolicyTest[] {
  if (pair === undefined) return []
  const items = v.list(pair, 'tests', TEST_EXAMPLE)
  if (items === undefined) return []
  const tests: PolicyTest[] = []
  items.forEach((item, i) => {
    const path = `tests[${i}]`
    const fields = v.entries(item, path, `test ${path}`, TEST, TEST_EXAMPLE)
    if (fields === undefined) return
    const from = v.identity(fields.get('from'), `${path}.from`, { node: true })
    const to = v.identity(fields.get('to'), `${path}.to`)
    const port = v.testPort(fields.get('port'), `${path}.port`)
    const expect = v.expectation(fields.get('expect'), `${path}.expect`)
    if (from === undefined || to === undefined || port === null || expect === undefined) return
    tests.push(Object.freeze({ from, to, port, expect, pos: v.problems.posOfNode(item) }))
  })
  return tests
}

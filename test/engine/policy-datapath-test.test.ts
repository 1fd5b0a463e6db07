/**
 * `latchctl policy test --datapath` (issue 10, Build 8): a policy's tests run through the real
 * programs (bpf/latch.o) with BPF_PROG_TEST_RUN. Each case asserts the kernel's verdict and the
 * counter every packet moved. Against bpf/auth-only.o (the program before issue 10: an auth entry
 * opens a pair both ways on any port) the same tests fail, naming the kernel: the check can fail.
 * Needs root and BPF (CI has both).
 */
import { join } from 'node:path'
import test from 'ava'
import { BPF_DIR } from '../../daemon/datapath/native.js'
import {
  type DatapathTestResult,
  runPolicyTestsOnDatapath,
} from '../../daemon/engine/policy-datapath-test.js'
import { compilePolicy, loadPolicyFile } from '../../daemon/policy/index.js'
import { API, check, DB, DNS, MON, policyText, rule, WEB } from '../policy/helpers.js'

const STRANGER = 'spiffe://example.org/ns/other/sa/stranger'

const POLICY = policyText(
  [
    ...rule(WEB, API, 'tcp/8080'),
    ...rule(API, DB, 'tcp/5432'),
    ...rule(API, DNS, 'udp/53, sctp/9899, icmpv6'),
    ...rule(MON, API),
    ...rule('node', API, 'tcp/8080'),
  ],
  [
    ...check(WEB, API, 'allow', 'tcp/8080'),
    ...check(WEB, API, 'deny', 'tcp/22'),
    ...check(WEB, API, 'deny', 'udp/8080'),
    ...check(API, WEB, 'deny', 'tcp/8080'),
    ...check(WEB, DB, 'deny'),
    ...check(API, DNS, 'allow', 'udp/53'),
    ...check(API, DNS, 'allow', 'sctp/9899'),
    ...check(API, DNS, 'allow', 'icmpv6'),
    ...check(MON, API, 'allow', 'icmp'),
    ...check(API, DB, 'allow'),
    ...check('node', API, 'allow', 'tcp/8080'),
    ...check('node', API, 'deny', 'tcp/22'),
    ...check('node', DB, 'deny'),
    ...check(STRANGER, API, 'deny'),
  ],
)

const pinBase = (tag: string) => `/sys/fs/bpf/latch-test-${process.pid}-pdt-${tag}`

/** "<probe>: <packet>@<end>=<reason>, …" — one line per test, to compare whole tables. */
function table(results: readonly DatapathTestResult[]): string[] {
  return results.map(
    (r) =>
      `${r.passed ? 'PASS' : 'FAIL'} ${r.probe}: ${r.steps.map((s) => `${s.packet}@${s.end}=${s.reason}`).join(' ')}`,
  )
}

test.serial(
  'every verdict of the policy tests comes from the kernel, with the counter each packet moved',
  (t) => {
    const policy = compilePolicy(POLICY, { file: 'p.yaml' })
    const results = runPolicyTestsOnDatapath(policy, { pinBase: pinBase('latch') })
    t.deepEqual(table(results), [
      // web → api tcp/8080: first packet at both ends, the reply back, and api may not open to web
      'PASS tcp/8080: first@source=allowed first@destination=allowed reply@destination=pass_reply reply@source=pass_reply reverse@destination=drop_reverse',
      'PASS tcp/22: first@source=drop_port_not_allowed reverse@destination=drop_reverse',
      'PASS udp/8080: first@source=drop_port_not_allowed reverse@destination=drop_reverse',
      'PASS tcp/8080: first@source=drop_reverse reverse@destination=allowed reverse@source=allowed',
      'PASS tcp/1: first@source=drop_no_rule reverse@destination=drop_no_rule',
      'PASS udp/53: first@source=allowed first@destination=allowed reply@destination=pass_reply reply@source=pass_reply reverse@destination=drop_reverse',
      'PASS sctp/9899: first@source=allowed first@destination=allowed reply@destination=pass_reply reply@source=pass_reply reverse@destination=drop_reverse',
      'PASS icmpv6: first@source=allowed first@destination=allowed reply@destination=pass_reply reply@source=pass_reply reverse@destination=drop_reverse',
      'PASS icmp: first@source=allowed first@destination=allowed reply@destination=pass_reply reply@source=pass_reply reverse@destination=drop_reverse',
      // no port: the probe is the rule's first port
      'PASS tcp/5432: first@source=allowed first@destination=allowed reply@destination=pass_reply reply@source=pass_reply reverse@destination=drop_reverse',
      // the node's own stack: no pair auth, the reply to the node's address is not mesh traffic
      'PASS tcp/8080: first@destination=allowed reply@destination=pass_source_ok',
      'PASS tcp/22: first@destination=drop_port_not_allowed',
      'PASS tcp/1: first@destination=drop_no_rule',
      // an identity no rule names
      'PASS tcp/1: first@source=drop_no_rule reverse@destination=drop_no_rule',
    ])
    t.regex(
      results[0]!.summary,
      /^PASS p\.yaml:\d+:5: .*web → .*api on tcp\/8080: allow, as expected; .*; kernel on tcp\/8080: first packet allowed at source, allowed at destination; reply pass_reply at destination, pass_reply at source; reverse new flow drop_reverse at destination$/,
    )
  },
)

test.serial('a test that is wrong about the policy fails, with the kernel trace beside it', (t) => {
  const text = policyText(rule(WEB, API, 'tcp/8080'), check(WEB, API, 'allow', 'tcp/9090'))
  const [r] = runPolicyTestsOnDatapath(compilePolicy(text, { file: 'w.yaml' }), { pinBase: pinBase('wrong') })
  t.false(r!.passed)
  t.is(r!.kernel, 'deny')
  t.regex(
    r!.summary,
    /^FAIL w\.yaml:\d+:5: .* wanted allow, policy gives deny; .*; kernel on tcp\/9090: first packet drop_port_not_allowed at source/,
  )
})

test.serial('against the pre-policy program (auth entry only) the tests fail and name the kernel', (t) => {
  const policy = compilePolicy(
    policyText(rule(WEB, API, 'tcp/8080'), [
      ...check(WEB, API, 'allow', 'tcp/8080'),
      ...check(WEB, API, 'deny', 'tcp/22'),
    ]),
    { file: 'a.yaml' },
  )
  const results = runPolicyTestsOnDatapath(policy, {
    pinBase: pinBase('auth-only'),
    objectPath: join(BPF_DIR, 'auth-only.o'),
  })
  t.deepEqual(
    results.map((r) => [r.passed, r.kernel]),
    [
      [false, 'allow'], // the reply passes, but so does the reverse new flow the policy denies
      [false, 'allow'], // tcp/22 gets through: the old program has no port stage
    ],
  )
  t.regex(
    results[0]!.summary,
    /^FAIL .*; but a new flow .*api → .*web on tcp\/8080: the policy gives deny, the kernel allow/,
  )
  t.regex(
    results[1]!.summary,
    /^FAIL .*; but the KERNEL gives allow on tcp\/22: first packet pass_source_ok at source, allowed at destination/,
  )
})

test.serial("the example policy's tests hold in the kernel", async (t) => {
  const policy = await loadPolicyFile('daemon/policy/example.yaml')
  const results = runPolicyTestsOnDatapath(policy, { pinBase: pinBase('example') })
  t.deepEqual(
    results.filter((r) => !r.passed).map((r) => r.summary),
    [],
  )
  t.is(results.length, policy.tests.length)
})

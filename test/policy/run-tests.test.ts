import test from 'ava'
import { compilePolicy, loadPolicyFile, runPolicyTests } from '../../daemon/policy/index.js'
import { API, check, DB, policyText, rule, WEB } from './helpers.js'

const allow = [...rule(WEB, API, 'tcp/8080'), ...rule(API, DB, 'tcp/5432')]

function results(tests: string[][]) {
  return runPolicyTests(compilePolicy(policyText(allow, tests.flat()), { file: 'p.yaml' }))
}

test('passing tests say PASS with the deciding rule', (t) => {
  const [r1, r2] = results([check(WEB, API, 'allow', 'tcp/8080'), check(WEB, DB, 'deny')])
  t.true(r1?.passed)
  t.is(r1?.got, 'allow')
  t.regex(
    r1!.summary,
    /^PASS p\.yaml:11:5: .*web → .*api on tcp\/8080: allow, as expected; the rule at line 4 allows tcp\/8080$/,
  )
  t.true(r2?.passed)
  t.regex(
    r2!.summary,
    /^PASS p\.yaml:15:5: .*: deny, as expected; no rule allows this pair \(default deny\)$/,
  )
})

test('a failing test names the pair, the port, what was wanted and what the policy gives', (t) => {
  const [r] = results([check(WEB, API, 'allow', 'tcp/9090')])
  t.false(r?.passed)
  t.is(r?.got, 'deny')
  t.is(
    r?.summary,
    `FAIL p.yaml:11:5: ${WEB} → ${API} on tcp/9090: wanted allow, policy gives deny; the rule at line 4 allows this pair only tcp/8080`,
  )
})

test('a failing deny test names the rule that allows it', (t) => {
  const [r] = results([check(API, DB, 'deny')])
  t.false(r?.passed)
  t.regex(r!.summary, /^FAIL .*: wanted deny, policy gives allow; the rule at line 7 allows tcp\/5432$/)
})

test('a test of the reverse direction explains that rules are directional', (t) => {
  const [r] = results([check(DB, API, 'allow', 'tcp/5432')])
  t.false(r?.passed)
  t.regex(r!.summary, /no rule allows this direction .*line 7 allows only the reverse direction/)
})

test('an icmp test on a tcp-only rule fails and says which ports the rule allows', (t) => {
  const [r] = results([check(API, DB, 'allow', 'icmp')])
  t.false(r?.passed)
  t.regex(r!.summary, /on icmp: wanted allow, policy gives deny; .* only tcp\/5432/)
})

test('the documented example policy compiles and its own tests pass', async (t) => {
  const example = await loadPolicyFile('daemon/policy/example.yaml')
  const outcomes = runPolicyTests(example)
  t.true(outcomes.length >= 5)
  for (const r of outcomes) t.true(r.passed, r.summary)
})

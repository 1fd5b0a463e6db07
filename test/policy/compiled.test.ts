import test from 'ava'
import { compilePolicy } from '../../daemon/policy/index.js'
import { API, DB, DNS, MON, policyText, rule, WEB } from './helpers.js'

const policy = compilePolicy(
  policyText([
    ...rule(WEB, API, 'tcp/8080, tcp/9000-9010'),
    ...rule(API, DB, 'tcp/5432'),
    ...rule(API, DNS, 'udp/53, tcp/53'),
    ...rule(MON, API),
    ...rule(DB, DB, 'tcp/5433'),
  ]),
  { file: 'p.yaml' },
)

const cases: [string, string, string, string | number | undefined, number | undefined, boolean][] = [
  ['web may open tcp/8080 to api', WEB, API, 'tcp', 8080, true],
  ['web may open tcp/9005 to api (inside a range)', WEB, API, 'tcp', 9005, true],
  ['web may not open tcp/9011 to api (past the range)', WEB, API, 'tcp', 9011, false],
  ['web may not send udp/8080 to api', WEB, API, 'udp', 8080, false],
  ['web may not ping api', WEB, API, 'icmp', undefined, false],
  ['web may reach api on some tcp port', WEB, API, 'tcp', undefined, true],
  ['web may reach api on something', WEB, API, undefined, undefined, true],
  ['api may not open flows to web (rules are directional)', API, WEB, 'tcp', 8080, false],
  ['api may not reach web at all', API, WEB, undefined, undefined, false],
  ['web may not reach db (default deny)', WEB, DB, 'tcp', 5432, false],
  ['api may open tcp/5432 to db', API, DB, 'tcp', 5432, true],
  ['api may open IANA 6/5432 to db', API, DB, 6, 5432, true],
  ['monitor may ping api (rule without ports)', MON, API, 'icmp', undefined, true],
  ['monitor may send GRE (47) to api (rule without ports)', MON, API, 47, undefined, true],
  ['api may not send GRE to db (rule with ports)', API, DB, 47, undefined, false],
  ['db replicas may reach each other on tcp/5433', DB, DB, 'tcp', 5433, true],
  ['an unknown identity is denied', 'spiffe://example.org/ns/x/sa/y', API, undefined, undefined, false],
]

for (const [name, from, to, proto, port, want] of cases) {
  test(name, (t) => {
    t.is(policy.allows(from, to, proto as 'tcp', port), want)
  })
}

test('pairAllowed holds in both directions for any rule between the two', (t) => {
  t.true(policy.pairAllowed(WEB, API))
  t.true(policy.pairAllowed(API, WEB))
  t.true(policy.pairAllowed(DB, API))
  t.false(policy.pairAllowed(WEB, DB))
  t.false(policy.pairAllowed(DB, WEB))
})

test('allowedPairs lists each unordered pair once, canonical a <= b, sorted', (t) => {
  t.deepEqual(
    policy.allowedPairs(),
    [
      { a: DNS, b: API },
      { a: API, b: DB },
      { a: MON, b: API },
      { a: API, b: WEB },
      { a: DB, b: DB },
    ]
      .map((p) => (p.a <= p.b ? p : { a: p.b, b: p.a }))
      .sort((x, y) => (x.a + ' ' + x.b < y.a + ' ' + y.b ? -1 : 1)),
  )
  for (const p of policy.allowedPairs()) t.true(p.a <= p.b)
})

test('a pair allowed both ways by two rules is one identity pair', (t) => {
  const p = compilePolicy(policyText([...rule(WEB, API), ...rule(API, WEB, 'tcp/1')]), { file: 'p.yaml' })
  t.deepEqual(p.allowedPairs(), [{ a: API, b: WEB }])
})

test('identities, rules and positions are exposed for status output', (t) => {
  t.deepEqual(policy.identities, [DNS, MON, API, DB, WEB].sort())
  t.is(policy.rules.length, 5)
  t.deepEqual(policy.rules[0]?.pos, { line: 4, col: 5 })
  t.deepEqual(policy.portsOf(API, DNS), ['tcp/53', 'udp/53'])
  t.deepEqual(policy.portsOf(MON, API), [])
  t.is(policy.portsOf(API, WEB), undefined)
  t.true(Object.isFrozen(policy))
})

test('the digest ignores layout, comments and rule order but not meaning', (t) => {
  const a = compilePolicy(policyText([...rule(WEB, API, 'tcp/80, tcp/81'), ...rule(API, DB)]), { file: 'a' })
  const b = compilePolicy(
    `# reordered\nversion: 1\ntrustDomain: example.org\nallow: [{to: ${DB}, from: ${API}}, {from: ${WEB}, to: ${API}, ports: [tcp/80-81]}]\n`,
    { file: 'b' },
  )
  const c = compilePolicy(policyText([...rule(WEB, API, 'tcp/80'), ...rule(API, DB)]), { file: 'c' })
  t.is(a.digest, b.digest)
  t.not(a.digest, c.digest)
  t.regex(a.digest, /^[0-9a-f]{64}$/)
})

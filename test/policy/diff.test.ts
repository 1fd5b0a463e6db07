import test from 'ava'
import { compilePolicy, diffPolicies } from '../../daemon/policy/index.js'
import { API, DB, DNS, MON, policyText, rule, WEB } from './helpers.js'

function p(...rules: string[][]) {
  return compilePolicy(policyText(rules.flat()), { file: 'p.yaml' })
}

test('a first policy adds all its pairs', (t) => {
  t.deepEqual(diffPolicies(undefined, p(rule(WEB, API), rule(API, DB))), {
    added: [
      { a: API, b: DB },
      { a: API, b: WEB },
    ],
    removed: [],
  })
})

test('a removed rule removes its pair; an added rule adds one', (t) => {
  const old = p(rule(WEB, API), rule(API, DB))
  const next = p(rule(WEB, API), rule(API, DNS))
  t.deepEqual(diffPolicies(old, next), { added: [{ a: DNS, b: API }], removed: [{ a: API, b: DB }] })
})

test('changing only ports changes no pair', (t) => {
  t.deepEqual(diffPolicies(p(rule(WEB, API, 'tcp/80')), p(rule(WEB, API, 'tcp/443'))), {
    added: [],
    removed: [],
  })
})

test("flipping a rule's direction keeps the pair (replies make it one pair)", (t) => {
  t.deepEqual(diffPolicies(p(rule(WEB, API)), p(rule(API, WEB))), { added: [], removed: [] })
})

test('removing one of two directions keeps the pair; removing both removes it', (t) => {
  const both = p(rule(WEB, API), rule(API, WEB))
  t.deepEqual(diffPolicies(both, p(rule(API, WEB))), { added: [], removed: [] })
  t.deepEqual(diffPolicies(both, p(rule(MON, DB))), {
    added: [{ a: MON, b: DB }],
    removed: [{ a: API, b: WEB }],
  })
})

test('an empty policy removes every pair', (t) => {
  const old = p(rule(WEB, API), rule(MON, API), rule(API, DB))
  t.deepEqual(diffPolicies(old, p()).removed, old.allowedPairs())
  t.deepEqual(diffPolicies(old, p()).added, [])
})

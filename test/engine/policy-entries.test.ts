/**
 * policyEntries: a compiled policy + identity ids -> the eBPF policy map's entries, as the reconcile
 * puts them in its desired state. Pure; table-driven.
 */
import test from 'ava'
import { LatchIdentity, LatchLimits } from '../../daemon/datapath/index.js'
import { policyEntries, portRanges } from '../../daemon/engine/policy-entries.js'
import { compilePolicy, parsePortSpec } from '../../daemon/policy/index.js'
import { MAX_PORT_RANGES } from '../../daemon/policy/ports.js'
import { API, DB, DNS, MON, policyText, rule, WEB } from '../policy/helpers.js'

const IDS: Record<string, number> = { [WEB]: 1, [API]: 2, [DB]: 3, [DNS]: 4 } // MON has no id yet
const idOf = (s: string) => IDS[s]

const compiled = compilePolicy(
  policyText([
    ...rule(WEB, API, 'tcp/8080, tcp/9000-9010, tcp/8081'),
    ...rule(API, DB, 'tcp/5432'),
    ...rule(API, DNS, 'udp/53, tcp/53'),
    ...rule(MON, API),
    ...rule('node', API, 'tcp/8080, icmp'),
    ...rule(DB, API),
  ]),
  { file: 'p.yaml' },
)

test('one entry per rule whose identities have ids, sorted, with merged ranges', (t) => {
  const r = policyEntries(compiled, idOf)
  t.deepEqual(r.entries, [
    {
      srcId: 1,
      dstId: 2,
      any: false,
      ranges: [
        { proto: 6, low: 8080, high: 8081 },
        { proto: 6, low: 9000, high: 9010 },
      ],
    },
    { srcId: 2, dstId: 3, any: false, ranges: [{ proto: 6, low: 5432, high: 5432 }] },
    {
      srcId: 2,
      dstId: 4,
      any: false,
      ranges: [
        { proto: 6, low: 53, high: 53 },
        { proto: 17, low: 53, high: 53 },
      ],
    },
    { srcId: 3, dstId: 2, any: true, ranges: [] },
    {
      srcId: LatchIdentity.LATCH_ID_NODE,
      dstId: 2,
      any: false,
      ranges: [
        { proto: 1, low: 0, high: 65535 },
        { proto: 6, low: 8080, high: 8080 },
      ],
    },
  ])
  t.deepEqual(
    r.unresolved.map((x) => [x.from, x.to]),
    [[MON, API]],
    'the rule of an identity without an id is reported, not written',
  )
})

test('the same policy and ids give the same entries (a reconcile sees no change)', (t) => {
  t.deepEqual(policyEntries(compiled, idOf), policyEntries(compiled, idOf))
})

test('a rule is written once its identity gets an id', (t) => {
  const r = policyEntries(compiled, (s) => (s === MON ? 9 : idOf(s)))
  t.deepEqual(r.unresolved, [])
  t.true(r.entries.some((e) => e.srcId === 9 && e.dstId === 2 && e.any))
})

const spec = (s: string) => {
  const p = parsePortSpec(s)
  if (!p.ok) throw new Error(p.problem)
  return p.spec
}
const rangeCases: [string, string[], { proto: number; low: number; high: number }[]][] = [
  ['a bare protocol is its whole port space', ['udp'], [{ proto: 17, low: 0, high: 65535 }]],
  [
    'icmp and icmpv6 are whole protocols',
    ['icmpv6', 'icmp'],
    [
      { proto: 1, low: 0, high: 65535 },
      { proto: 58, low: 0, high: 65535 },
    ],
  ],
  ['overlapping ranges join', ['tcp/10-20', 'tcp/15-30'], [{ proto: 6, low: 10, high: 30 }]],
  ['adjacent ranges join', ['tcp/10-20', 'tcp/21'], [{ proto: 6, low: 10, high: 21 }]],
  ['a range inside tcp joins it', ['tcp', 'tcp/443'], [{ proto: 6, low: 0, high: 65535 }]],
  [
    'the same port of two protocols stays two',
    ['tcp/53', 'udp/53'],
    [
      { proto: 6, low: 53, high: 53 },
      { proto: 17, low: 53, high: 53 },
    ],
  ],
]
for (const [name, specs, want] of rangeCases) {
  test(`port ranges: ${name}`, (t) => {
    t.deepEqual(portRanges(specs.map(spec)), want)
  })
}

test('the policy compiler and the datapath agree on the ranges one rule may hold', (t) => {
  t.is(MAX_PORT_RANGES, LatchLimits.LATCH_POLICY_MAX_RANGES)
})

test('a rule with more separate ranges than the datapath holds is refused by the compiler', (t) => {
  const ports = Array.from({ length: MAX_PORT_RANGES + 1 }, (_, i) => `tcp/${1000 + i * 10}`).join(', ')
  const err = t.throws(() => compilePolicy(policyText(rule(WEB, API, ports)), { file: 'p.yaml' }))
  t.is((err as { code?: string }).code, 'LATCH_ERR_POLICY_INVALID')
  t.regex(err!.message, /p\.yaml:4:\d+: .*17 separate port ranges; the datapath holds at most 16/)
})

test('`node` is a source only, and never an authenticated pair', (t) => {
  t.false(compiled.identities.includes('node'))
  t.false(compiled.allowedPairs().some((p) => p.a === 'node' || p.b === 'node'))
  t.false(compiled.pairAllowed('node', API))
  t.true(compiled.allows('node', API, 'tcp', 8080))
  const err = t.throws(() => compilePolicy(policyText(rule(API, 'node')), { file: 'p.yaml' }))
  t.regex(err!.message, /"node" \(the node's own traffic\) can only be a source/)
})

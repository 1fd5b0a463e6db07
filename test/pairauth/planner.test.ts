/** The auth planner: which pairs, who dials, and what a policy change drops. Pure, table-driven. */
import test from 'ava'
import { desiredPairs, initiates, PairTable, type WorkloadRef } from '../../daemon/pairauth/index.js'
import { diffPolicies } from '../../daemon/policy/index.js'
import { API, DB, policyOf, TD, WEB } from './fixture.js'

const MON = `spiffe://${TD}/ns/ops/sa/monitor`
const w = (id: string, ...ips: string[]): WorkloadRef => ({ id, ips })

interface PlanCase {
  name: string
  localNode: string
  local: WorkloadRef[]
  remote: [string, WorkloadRef[]][]
  rules: [string, string][]
  /** "local -> remote @node (initiator|responder)" */
  expect: string[]
}

const show = (p: { local: string; remote: string; node: string; initiator: boolean }) =>
  `${p.local.split('/').at(-1)} -> ${p.remote.split('/').at(-1)} @${p.node} (${p.initiator ? 'initiator' : 'responder'})`

const cases: PlanCase[] = [
  {
    name: 'an allowed pair whose workloads are both known is planned, the smaller SPIFFE ID dials',
    localNode: 'node1',
    local: [w(WEB, '10.100.1.11')],
    remote: [['node2', [w(DB, '10.100.2.21')]]],
    rules: [[WEB, DB]],
    // ".../sa/db" < ".../sa/web": the db side (node2) initiates
    expect: ['web -> db @node2 (responder)'],
  },
  {
    name: 'the other daemon of the same pair sees the mirror image and initiates',
    localNode: 'node2',
    local: [w(DB, '10.100.2.21')],
    remote: [['node1', [w(WEB, '10.100.1.11')]]],
    rules: [[WEB, DB]],
    expect: ['db -> web @node1 (initiator)'],
  },
  {
    name: 'a rule in one direction plans the pair for both workloads (pairs are unordered)',
    localNode: 'node2',
    local: [w(DB, '10.100.2.21')],
    remote: [['node1', [w(WEB, '10.100.1.11')]]],
    rules: [[DB, WEB]],
    expect: ['db -> web @node1 (initiator)'],
  },
  {
    name: 'a pair the policy does not name is not planned',
    localNode: 'node1',
    local: [w(WEB, '10.100.1.11')],
    remote: [['node2', [w(DB, '10.100.2.21'), w(MON, '10.100.2.30')]]],
    rules: [[WEB, DB]],
    expect: ['web -> db @node2 (responder)'],
  },
  {
    name: 'a remote identity on two nodes is two pairs, one per node',
    localNode: 'node1',
    local: [w(API, '10.100.1.12')],
    remote: [
      ['node2', [w(DB, '10.100.2.21')]],
      ['node3', [w(DB, '10.100.3.21')]],
    ],
    rules: [[API, DB]],
    expect: ['api -> db @node2 (initiator)', 'api -> db @node3 (initiator)'],
  },
  {
    name: 'replicas of one identity on two nodes: the smaller node name dials',
    localNode: 'node2',
    local: [w(WEB, '10.100.2.11')],
    remote: [
      ['node1', [w(WEB, '10.100.1.11')]],
      ['node3', [w(WEB, '10.100.3.11')]],
    ],
    rules: [[WEB, WEB]],
    expect: ['web -> web @node1 (responder)', 'web -> web @node3 (initiator)'],
  },
  {
    name: 'workloads of this node are never planned against each other, nor an unknown remote',
    localNode: 'node1',
    local: [w(WEB, '10.100.1.11'), w(DB, '10.100.1.21')],
    remote: [['node1', [w(DB, '10.100.1.21')]]],
    rules: [[WEB, DB]],
    expect: [],
  },
]

for (const c of cases) {
  test(c.name, (t) => {
    const pairs = desiredPairs({
      localNode: c.localNode,
      policy: policyOf(TD, ...c.rules),
      local: c.local,
      remote: new Map(c.remote),
    })
    t.deepEqual(pairs.map(show), c.expect)
  })
}

test('the tie-break is the same decision seen from both daemons: exactly one initiates', (t) => {
  const ids = [WEB, DB, API]
  for (const x of ids) {
    for (const y of ids) {
      for (const [n1, n2] of [
        ['node1', 'node2'],
        ['node2', 'node1'],
      ] as const) {
        t.not(initiates(n1, x, n2, y), initiates(n2, y, n1, x), `${x}@${n1} vs ${y}@${n2}`)
      }
    }
  }
})

test('a policy change drops exactly the pairs it stops allowing, at once', (t) => {
  const local = [w(WEB, '10.100.1.11'), w(API, '10.100.1.12')]
  const remote = new Map([['node2', [w(DB, '10.100.2.21'), w(MON, '10.100.2.30')]]])
  const before = policyOf(TD, [WEB, DB], [API, DB], [MON, WEB])
  const after = policyOf(TD, [WEB, DB], [MON, API])
  const table = new PairTable({ random: () => 0 })
  const now = Date.UTC(2030, 0, 1)
  table.reconcile(desiredPairs({ localNode: 'node1', policy: before, local, remote }), now)
  // all three become authenticated
  for (const s of table.list()) table.succeeded(s.key, now + 3_600_000, ['10.100.2.21'], now)
  const changed = table.reconcile(desiredPairs({ localNode: 'node1', policy: after, local, remote }), now + 1)
  const name = (s: { local: string; remote: string }) =>
    `${s.local.split('/').at(-1)}-${s.remote.split('/').at(-1)}`
  t.deepEqual(changed.removed.map(name).sort(), ['api-db', 'web-monitor'])
  t.true(
    changed.removed.every((s) => s.expiresAt !== undefined),
    'removed pairs carry entries to delete',
  )
  t.deepEqual(changed.added.map(name), ['api-monitor'])
  // the same answer the policy diff gives for this node's workloads
  const diff = diffPolicies(before, after)
  t.is(diff.removed.length, 2)
  t.is(table.find(WEB, DB, 'node2')?.expiresAt, now + 3_600_000, 'a pair still allowed keeps its entry')
})

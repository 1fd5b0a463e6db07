import test from 'ava'
import { LatchIdentity } from '../../daemon/datapath/index.js'
import type { ProvenPair } from '../../daemon/engine/datapath-desired.js'
import { DatapathReconciler } from '../../daemon/engine/datapath-reconcile.js'
import { IdentityAllocator } from '../../daemon/engine/identities.js'
import { POLICY_CHUNK } from '../../daemon/engine/policy-map-state.js'
import { compilePolicy } from '../../daemon/policy/index.js'
import { FakeMaps } from './helpers/fake-maps.js'
import { silent } from './helpers/setup.js'

/**
 * Table-driven replay of datapath facts against modelled maps (test/engine/helpers/fake-maps.ts),
 * comparing the batch calls each step made: the first state, the same state again (no writes),
 * pairs authenticated / re-authenticated / revoked / expired, a restart that adopts the maps (same
 * ids, nothing rewritten), the grace ending (unclaimed identities forgotten), and a restart without
 * the id allocation (fail closed).
 */

const TD = 'spiffe://t.latch/ns/shop/sa'
const WEB = `${TD}/web` // local, lw1 = ifindex 5, id 1
const CACHE = `${TD}/cache` // local, lw2 = ifindex 6, id 2
const DB = `${TD}/db` // on node2, id 3
const LOG = `${TD}/log` // on node3, id 4
const GRACE = 60_000
const T0 = Date.parse('2026-12-01T20:00:00Z')
const LOCAL = [
  { id: WEB, ips: ['10.100.1.11'], ifindex: 5 },
  { id: CACHE, ips: ['10.100.1.12'], ifindex: 6 },
]

interface World {
  maps: FakeMaps
  ids: IdentityAllocator
  wg: number | undefined
  now: number
  r: DatapathReconciler
}

function adopt(w: World): DatapathReconciler {
  return DatapathReconciler.adopt({
    maps: w.maps,
    ids: w.ids,
    local: LOCAL,
    wireguardIfindex: () => w.wg,
    graceMs: GRACE,
    now: () => w.now,
    logger: silent,
  })
}

function world(): World {
  const w = { maps: new FakeMaps(), ids: new IdentityAllocator(undefined), wg: 9, now: T0 } as World
  for (const l of LOCAL) w.ids.idOf(l.id) // as NodeDatapath does before adopting
  w.r = adopt(w)
  return w
}

const at = (ms: number) => new Date(T0 + ms)
const pair = (local: string, remote: string, ips: string[], expiresMs: number): ProvenPair => ({
  local,
  remote,
  remoteIps: ips,
  expiresAt: at(expiresMs),
})
const webDb = pair(WEB, DB, ['10.100.2.11'], 600_000)
const cacheDb = pair(CACHE, DB, ['10.100.2.11'], 600_000)
const webLog = pair(WEB, LOG, ['10.100.3.11', '10.100.3.12'], 600_000)

interface Step {
  name: string
  act: (w: World) => unknown
  /** the batch calls the step made, in order */
  writes: string[]
  /** remote identities written or kept afterwards: name → adopted */
  remote?: Array<[string, boolean]>
}

const steps: Step[] = [
  {
    name: 'the same local state again writes nothing (the first adopt wrote endpoints and local ipcache)',
    act: (w) => w.r.reconcile(),
    writes: [],
  },
  {
    name: 'three authenticated pairs are one ipcache batch and one auth batch, not three writes per pair',
    act: (w) => w.r.setProvenPairs([webDb, cacheDb, webLog]),
    writes: [
      'ipcache upsert 10.100.2.11/32=3/remote/if9 10.100.3.11/32=4/remote/if9 10.100.3.12/32=4/remote/if9',
      'auth set 1->3 1->4 2->3 3->1 3->2 4->1',
    ],
    remote: [
      [DB, false],
      [LOG, false],
    ],
  },
  {
    name: 'the same pairs again write nothing',
    act: (w) => w.r.setProvenPairs([webLog, cacheDb, webDb]),
    writes: [],
  },
  {
    name: 'a re-authenticated pair rewrites only its two auth entries',
    act: (w) => w.r.setProvenPairs([{ ...webDb, expiresAt: at(900_000) }, cacheDb, webLog]),
    writes: ['auth set 1->3 3->1'],
  },
  {
    name: 'a pair leaving the set deletes its auth entries; the remote identity another pair proves stays',
    act: (w) => w.r.setProvenPairs([{ ...webDb, expiresAt: at(900_000) }, webLog]),
    writes: ['auth delete 2->3 3->2'],
  },
  {
    name: 'the last pair with a remote identity gone takes its ipcache entries (auth deletes first)',
    act: (w) => w.r.setProvenPairs([{ ...webDb, expiresAt: at(900_000) }]),
    writes: ['auth delete 1->4 4->1', 'ipcache delete 10.100.3.11/32 10.100.3.12/32'],
    remote: [[DB, false]],
  },
  {
    name: 'an entry written by hand joins the next batch and a revoke deletes it',
    act: async (w) => {
      await w.r.authorize(CACHE, WEB, at(120_000))
      return w.r.revoke(CACHE, WEB)
    },
    writes: ['auth set 2->1', 'auth delete 2->1'],
  },
  {
    name: 'many writes in one event-loop turn are one reconcile',
    act: (w) => {
      void w.r.authorize(CACHE, WEB, at(120_000))
      void w.r.authorize(WEB, CACHE, at(120_000))
      return w.r.setRemoteIdentity(LOG, ['10.100.3.11'])
    },
    writes: ['ipcache upsert 10.100.3.11/32=4/remote/if9', 'auth set 1->2 2->1'],
  },
  {
    name: 'past their expiry the GC deletes the entries written by hand; the pair still held is not rewritten',
    act: (w) => {
      w.now = T0 + 120_000
      return w.r.collect()
    },
    writes: ['auth delete 1->2 2->1'],
  },
  {
    name: 'a restart with the allocation adopts the maps and rewrites nothing',
    act: (w) => {
      w.r = adopt(w)
    },
    writes: [],
    remote: [
      [DB, true],
      [LOG, true],
    ],
  },
  {
    name: 're-asserting an adopted identity with the same facts writes nothing',
    act: (w) => w.r.setProvenPairs([{ ...webDb, expiresAt: at(900_000) }]),
    writes: [],
    remote: [
      [DB, false],
      [LOG, true],
    ],
  },
  {
    name: 'within the grace the GC keeps the unclaimed identity',
    act: (w) => {
      w.now += GRACE - 1
      return w.r.collect()
    },
    writes: [],
  },
  {
    name: 'after the grace the GC forgets the unclaimed identity',
    act: (w) => {
      w.now += 1
      return w.r.collect()
    },
    writes: ['ipcache delete 10.100.3.11/32'],
    remote: [[DB, false]],
  },
]

test('the datapath reconcile, step by step, writes exactly the difference in one batch per map', async (t) => {
  const w = world()
  t.deepEqual(w.maps.take(), [
    'endpoints set 5=1[10.100.1.11] 6=2[10.100.1.12]',
    'ipcache upsert 10.100.1.11/32=1/local/if5 10.100.1.12/32=2/local/if6',
  ])
  for (const s of steps) {
    await s.act(w)
    t.deepEqual(w.maps.take(), s.writes, s.name)
    if (s.remote) {
      t.deepEqual(
        [...w.r.remoteIdentities()].map(([id, r]) => [id, r.adopted]),
        s.remote,
        `${s.name}: remote identities`,
      )
    }
  }
})

test('a restart re-points kept remote entries at the new WireGuard ifindex, once', async (t) => {
  const w = world()
  await w.r.setProvenPairs([webDb])
  w.maps.take()
  w.wg = 12
  w.r = adopt(w)
  t.deepEqual(w.maps.take(), ['ipcache upsert 10.100.2.11/32=3/remote/if12'])
  await w.r.setProvenPairs([webDb])
  t.deepEqual(w.maps.take(), [])
})

test('adopted auth entries of a claimed identity stay until they expire; those naming a forgotten one go with it', async (t) => {
  const w = world()
  await w.r.setRemoteIdentity(DB, ['10.100.2.11'])
  await w.r.setRemoteIdentity(LOG, ['10.100.3.11'])
  for (const remote of [DB, LOG]) {
    await w.r.authorize(WEB, remote, at(300_000))
    await w.r.authorize(remote, WEB, at(300_000))
  }
  w.maps.take()
  w.r = adopt(w)
  await w.r.setRemoteIdentity(DB, ['10.100.2.11'])
  t.deepEqual(w.maps.take(), [], 'claiming the identity rewrites nothing')
  w.now += GRACE
  w.r.collect()
  t.deepEqual(w.maps.take(), ['auth delete 1->4 4->1', 'ipcache delete 10.100.3.11/32'])
  t.deepEqual([...w.maps.authMap.keys()].sort(), ['1 3', '3 1'], "the claimed identity's entries stay")
  w.now = T0 + 300_000
  w.r.collect()
  t.deepEqual(w.maps.take(), ['auth delete 1->3 3->1'], 'until they expire')
})

test('a revoked adopted entry is deleted at once and a pair that leaves after claiming it takes it along', async (t) => {
  const w = world()
  await w.r.setProvenPairs([webDb, webLog])
  w.maps.take()
  w.r = adopt(w)
  await w.r.revoke(WEB, LOG)
  t.deepEqual(w.maps.take(), ['auth delete 1->4'])
  await w.r.setProvenPairs([webDb])
  t.deepEqual(w.maps.take(), [], 'the claimed pair rewrites nothing')
  await w.r.setProvenPairs([])
  t.deepEqual(w.maps.take(), ['auth delete 1->3 3->1', 'ipcache delete 10.100.2.11/32'])
})

test('a restart without the id allocation clears every remote and auth entry (fail closed)', async (t) => {
  const w = world()
  await w.r.setProvenPairs([webDb, webLog])
  w.maps.take()
  w.ids = new IdentityAllocator(undefined)
  for (const l of LOCAL) w.ids.idOf(l.id)
  w.r = adopt(w)
  t.deepEqual(w.maps.take(), [
    'auth delete 1->3 1->4 3->1 4->1',
    'ipcache delete 10.100.2.11/32 10.100.3.11/32 10.100.3.12/32',
  ])
  t.is(w.r.remoteIdentities().size, 0)
})

test('a remote identity claiming a local address is refused; without the WireGuard link remote entries wait', async (t) => {
  const w = world()
  w.maps.take()
  await w.r.setProvenPairs([pair(WEB, DB, ['10.100.1.12'], 600_000)])
  t.deepEqual(w.maps.take(), ['auth set 1->3 3->1'], 'auth only: no ipcache entry takes a local address')
  t.is(w.maps.ipcacheMap.get('10.100.1.12/32')?.identity, 2)
  w.wg = undefined
  await w.r.setProvenPairs([webDb])
  t.deepEqual(w.maps.take(), [], 'nothing to point remote entries at yet')
  w.wg = 9
  w.r.collect()
  t.deepEqual(w.maps.take(), ['ipcache upsert 10.100.2.11/32=3/remote/if9'])
})

test('a local workload that went away loses its endpoint and ipcache entry at the next start', (t) => {
  const w = world()
  w.maps.take()
  const r = DatapathReconciler.adopt({
    maps: w.maps,
    ids: w.ids,
    local: [LOCAL[0]!],
    wireguardIfindex: () => 9,
    graceMs: GRACE,
    now: () => w.now,
    logger: silent,
  })
  t.deepEqual(w.maps.take(), ['ipcache delete 10.100.1.12/32', 'endpoints delete 6'])
  t.false(r.reconcile().changed)
})

// --- the policy map as part of the desired state ---------------------------------------------------

const policyOf = (lines: string[]) =>
  compilePolicy(['version: 1', 'trustDomain: t.latch', 'allow:', ...lines, ''].join('\n'), {
    file: 'p.yaml',
  })
const RULE_WEB_DB = [`  - from: ${WEB}`, `    to: ${DB}`, '    ports: [tcp/5432, tcp/5433]']
const RULE_DB_CACHE = [`  - from: ${DB}`, `    to: ${CACHE}`]
const RULE_NODE_WEB = ['  - from: node', `    to: ${WEB}`, '    ports: [tcp/8080, icmp]']
const NODE = LatchIdentity.LATCH_ID_NODE

test('the policy map follows the policy: one batch, nothing when unchanged, rules wait for their identities', async (t) => {
  const w = world()
  w.maps.take()
  const p1 = policyOf([...RULE_WEB_DB, ...RULE_DB_CACHE, ...RULE_NODE_WEB])
  await w.r.setPolicy(p1)
  t.deepEqual(
    w.maps.take(),
    [`policy set ${NODE}->1=1:0-65535,6:8080-8080`],
    'only the rule whose identities are known: DB has no entry yet',
  )
  await w.r.setProvenPairs([webDb])
  t.deepEqual(w.maps.take(), [
    'ipcache upsert 10.100.2.11/32=3/remote/if9',
    'policy set 1->3=6:5432-5433 3->2=any',
    'auth set 1->3 3->1',
  ])
  const reads = w.maps.policyReads
  await w.r.setPolicy(policyOf([...RULE_NODE_WEB, ...RULE_DB_CACHE, ...RULE_WEB_DB]))
  await w.r.setProvenPairs([webDb, cacheDb])
  t.deepEqual(w.maps.take(), ['auth set 2->3 3->2'], 'the same rules in another order write nothing')
  t.is(w.maps.policyReads, reads, 'nor re-read the policy map: its desired content did not change')
  await w.r.setPolicy(policyOf([...RULE_WEB_DB.slice(0, 2), '    ports: [tcp/5432]', ...RULE_NODE_WEB]))
  t.deepEqual(
    w.maps.take(),
    ['policy delete 3->2', 'policy set 1->3=6:5432-5432'],
    'removed first, then changed',
  )
})

test('a restart leaves the policy map alone until the policy is handed over, then writes only the difference', async (t) => {
  const w = world()
  await w.r.setProvenPairs([webDb])
  await w.r.setPolicy(policyOf([...RULE_WEB_DB, ...RULE_NODE_WEB]))
  w.maps.take()
  w.r = adopt(w)
  await w.r.setProvenPairs([webDb])
  t.deepEqual(w.maps.take(), [], 'the rules of the previous latchd stay in force')
  t.is(w.maps.policyMap.size, 2)
  await w.r.setPolicy(policyOf([...RULE_WEB_DB]))
  t.deepEqual(w.maps.take(), [`policy delete ${NODE}->1`])
  w.maps.policyMap.delete('1 3') // someone else changed the map: the next policy change repairs it
  await w.r.setPolicy(policyOf([...RULE_WEB_DB, ...RULE_NODE_WEB]))
  t.deepEqual(w.maps.take(), [`policy set 1->3=6:5432-5433 ${NODE}->1=1:0-65535,6:8080-8080`])
})

test('policy hand-overs apply in order: a second one given before the first is written wins', async (t) => {
  const w = world()
  w.maps.take()
  const first = w.r.setPolicy(policyOf([...RULE_WEB_DB, ...RULE_NODE_WEB]))
  const second = w.r.setPolicy(policyOf([...RULE_NODE_WEB.slice(0, 2), '    ports: [tcp/9090]']))
  await Promise.all([first, second])
  t.deepEqual([...w.maps.policyMap.keys()], [`${NODE} 1`])
  t.deepEqual(w.maps.policyMap.get(`${NODE} 1`)?.ranges, [{ proto: 6, low: 9090, high: 9090 }])
})

test('a policy change past POLICY_CHUNK entries is written a batch per turn, all of it before setPolicy resolves', async (t) => {
  const w = world()
  w.maps.take()
  const n = POLICY_CHUNK + 700
  const rules: string[] = []
  for (let i = 0; i < n; i++) rules.push(`  - from: ${TD}/s${i}`, `    to: ${WEB}`)
  for (let i = 0; i < n; i++) w.ids.idOf(`${TD}/s${i}`)
  let turns = 0
  const ticker = setInterval(() => turns++, 0)
  await w.r.setPolicy(policyOf(rules))
  clearInterval(ticker)
  const batches = w.maps.take().filter((l) => l.startsWith('policy set'))
  t.is(batches.length, 2)
  t.is(w.maps.policyMap.size, n)
  t.true(turns > 0, 'timers ran between the batches')
  await w.r.setPolicy(policyOf(rules.slice(0, 2)))
  const removed = w.maps.take()
  t.deepEqual(
    removed.map((l) => l.split(' ').slice(0, 2).join(' ')),
    ['policy delete', 'policy delete'],
    'the removal of all but one rule: two delete batches',
  )
  t.is(w.maps.policyMap.size, 1)
})

test('rules that new ids complete while a big change is written follow it: every entry once, no batch past POLICY_CHUNK', async (t) => {
  const w = world()
  w.maps.take()
  // 125 × 123 pairs: 3 × POLICY_CHUNK + 375 entries from 248 identities
  const n = 125 * 123
  const rules: string[] = []
  for (let i = 0; i < 125; i++)
    for (let j = 0; j < 123; j++) rules.push(`  - from: ${TD}/s${i}`, `    to: ${TD}/d${j}`)
  for (let i = 0; i < 125; i++) w.ids.idOf(`${TD}/s${i}`)
  for (let j = 0; j < 123; j++) w.ids.idOf(`${TD}/d${j}`)
  for (let i = 0; i < 10; i++) rules.push(`  - from: ${TD}/late${i}`, `    to: ${WEB}`)
  const done = w.r.setPolicy(policyOf(rules))
  while (!w.maps.transcript.some((l) => l.startsWith('policy set'))) await new Promise(setImmediate)
  for (let i = 0; i < 10; i++) w.ids.idOf(`${TD}/late${i}`)
  await done
  const batches = w.maps.take().map((l) => l.split(' ').slice(2))
  t.true(batches.length >= 4)
  t.true(batches.every((b) => b.length <= POLICY_CHUNK))
  const written = batches.flat().map((e) => e.split('=')[0])
  t.is(written.length, n + 10, 'every entry written once')
  t.is(new Set(written).size, n + 10)
  t.is(w.maps.policyMap.size, n + 10)
  const web = w.ids.peek(WEB)
  const late = Array.from({ length: 10 }, (_, i) => `${w.ids.peek(`${TD}/late${i}`)}->${web}`)
  t.deepEqual(
    late.filter((k) => !batches.at(-1)!.some((e) => e.startsWith(`${k}=`))),
    [],
    'the late rules came after the prepared ones, in the last batch',
  )
})

test('a policy write that fails is retried by diffing the whole map at the next reconcile', async (t) => {
  const w = world()
  w.maps.take()
  const set = w.maps.policy.set
  w.maps.policy.set = () => {
    throw new Error('map full')
  }
  await t.throwsAsync(w.r.setPolicy(policyOf([...RULE_WEB_DB, ...RULE_NODE_WEB])), { message: 'map full' })
  w.maps.policy.set = set
  const reads = w.maps.policyReads
  w.r.reconcile()
  t.is(w.maps.policyReads, reads + 1, 'the map was read')
  t.deepEqual(w.maps.take(), [`policy set ${NODE}->1=1:0-65535,6:8080-8080`])
  t.false(w.r.reconcile().changed)
  t.is(w.maps.policyReads, reads + 1, 'and only once')
})

test('a reconcile diffs against what it wrote without reading the maps back; the GC tick reads them and undoes a change made behind its back', async (t) => {
  const w = world()
  const reads = () => ({ ...w.maps.reads })
  const atAdopt = reads()
  t.deepEqual(atAdopt, { endpoints: 1, ipcache: 1, auth: 1 }, 'adopt read each map once')
  w.maps.take()
  await w.r.setProvenPairs([webDb, webLog])
  await w.r.setLocal([LOCAL[0]!])
  t.deepEqual(w.maps.take(), [
    'ipcache upsert 10.100.2.11/32=3/remote/if9 10.100.3.11/32=4/remote/if9 10.100.3.12/32=4/remote/if9',
    'auth set 1->3 1->4 3->1 4->1',
    'ipcache delete 10.100.1.12/32',
    'endpoints delete 6',
  ])
  await w.r.setProvenPairs([webDb])
  t.deepEqual(w.maps.take(), ['auth delete 1->4 4->1', 'ipcache delete 10.100.3.11/32 10.100.3.12/32'])
  t.false(w.r.reconcile().changed, 'what it holds is what it wrote')
  t.deepEqual(reads(), atAdopt, 'four reconciles, no read-back')

  // a tool deletes an auth entry and adds a stray ipcache entry: the next GC tick reads and repairs
  w.maps.authMap.delete('1 3')
  w.maps.ipcacheMap.set('10.100.7.7/32', {
    prefix: '10.100.7.7/32',
    identity: 3,
    scope: 'remote',
    ifindex: 9,
  })
  t.false(w.r.reconcile().changed, 'an ordinary reconcile does not see it')
  w.now += 1000
  w.r.collect()
  t.deepEqual(reads(), { endpoints: 2, ipcache: 2, auth: 2 }, 'the GC tick read each map')
  t.deepEqual(w.maps.take(), ['ipcache delete 10.100.7.7/32', 'auth set 1->3'])

  // a failed apply: the next reconcile reads what did reach the maps
  const set = w.maps.auth.set
  w.maps.auth.set = () => {
    throw new Error('map full')
  }
  await t.throwsAsync(w.r.setProvenPairs([webDb, cacheDb]), { message: 'map full' })
  w.maps.auth.set = set
  w.r.reconcile()
  t.deepEqual(reads(), { endpoints: 3, ipcache: 3, auth: 3 }, 'read after the failure')
  t.deepEqual(w.maps.take().at(-1), 'auth set 2->3 3->2')
  t.false(w.r.reconcile().changed)
  t.deepEqual(reads(), { endpoints: 3, ipcache: 3, auth: 3 }, 'and only then')
})

test('after a restart the rules of adopted identities stay in force before their pairs re-authenticate', async (t) => {
  const w = world()
  await w.r.setPolicy(policyOf([...RULE_WEB_DB]))
  await w.r.setProvenPairs([webDb])
  w.maps.take()
  w.r = adopt(w)
  await w.r.setPolicy(policyOf([...RULE_WEB_DB]))
  t.deepEqual(w.maps.take(), [], 'DB is only adopted (no writer yet): its rule is not deleted')
  await w.r.setProvenPairs([])
  w.now += GRACE
  w.r.collect()
  t.deepEqual(
    w.maps.take(),
    ['auth delete 1->3 3->1', 'ipcache delete 10.100.2.11/32'],
    'a forgotten identity loses its addresses and auth entries; its rule is inert (no packet carries its id)',
  )
})

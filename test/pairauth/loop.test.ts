/**
 * PairAuthLoop end to end on loopback: two daemons' loops with real pair-auth servers and clients and a
 * fake clock. Entries are written on both sides for planned pairs, re-authenticated before expiry,
 * and revoked at once when the policy stops allowing the pair.
 */
import test, { type ExecutionContext } from 'ava'
import {
  authenticatePair,
  desiredPairs,
  PairAuthLoop,
  type PairState,
  type WorkloadCredentials,
} from '../../daemon/pairauth/index.js'
import type { CompiledPolicy } from '../../daemon/policy/index.js'
import { FakeClock } from '../base/fake-clock.js'
import { DB, PairPki, policyOf, TD, WEB } from './fixture.js'
import { credentialsFor, type Listening } from './harness.js'

let pki: PairPki

test.before(async () => {
  pki = await PairPki.create()
})

test.after.always(async () => {
  await pki?.remove()
})

const TTL = 600_000

interface Daemon {
  node: string
  loop: PairAuthLoop
  listening: Listening
  /** The auth "map": key → expiry. */
  entries: Map<string, number>
  log: string[]
  dials: number
}

async function daemon(
  node: string,
  credentials: WorkloadCredentials,
  policy: () => CompiledPolicy,
  clock: FakeClock,
  ports: Map<string, number>,
): Promise<Daemon> {
  const d = { node, entries: new Map<string, number>(), log: [] as string[], dials: 0 } as Daemon
  d.loop = new PairAuthLoop({
    clock,
    table: { random: () => 0 },
    authenticate: (p: PairState) => {
      d.dials++
      return authenticatePair({
        trust: pki.trust(),
        credentials,
        local: p.local,
        remote: p.remote,
        peer: { node: p.node, address: pki.node(p.node).address, port: ports.get(p.node) ?? 1 },
        localAddress: pki.node(node).address,
        constraints: pki.constraintsFor(p.node),
        policy: policy(),
        ttlMs: TTL,
        now: () => new Date(clock.now()),
      })
    },
    onAuthenticated: (p, o) => {
      d.entries.set(p.key, o.expiresAt.getTime())
      d.log.push(`auth ${o.role}`)
    },
    onRevoked: (p, why) => {
      d.entries.delete(p.key)
      d.log.push(`revoke ${why}`)
    },
  })
  // the server reads the live policy and feeds its outcomes into the loop
  d.listening = await listenInto(node, credentials, policy, clock, d)
  ports.set(node, d.listening.port)
  return d
}

async function listenInto(
  node: string,
  credentials: WorkloadCredentials,
  policy: () => CompiledPolicy,
  clock: FakeClock,
  d: Daemon,
): Promise<Listening> {
  const { createPairAuthServer } = await import('../../daemon/pairauth/index.js')
  const n = pki.node(node)
  const server = createPairAuthServer({
    trust: pki.trust(),
    credentials,
    fallback: { certPem: n.certPem, keyPem: n.keyPem },
    senderNode: pki.senderNode,
    constraintsFor: pki.constraintsFor,
    policy,
    ttlMs: TTL,
    onOutcome: (o) => d.loop.accepted(o),
    now: () => new Date(clock.now()),
  })
  const { port } = await server.listen(n.address, 0)
  return { server, port, outcomes: [], next: () => Promise.reject(new Error('unused')) }
}

/** Wait (real time) until `check` holds, at most 3 s: the handshakes themselves run on real sockets. */
async function settle(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
}

/**
 * web on node1 and db on node2, each reading its own policy; torn down with the test. `planWeb` /
 * `planDb` hand each loop the pairs its policy plans now.
 */
async function webAndDb(
  t: ExecutionContext,
  clock: FakeClock,
  webPolicy: () => CompiledPolicy,
  dbPolicy: () => CompiledPolicy = webPolicy,
) {
  const ports = new Map<string, number>()
  const web = await daemon(
    'node1',
    credentialsFor(pki, await pki.svid('node1', WEB, ['10.100.1.11'])),
    webPolicy,
    clock,
    ports,
  )
  const db = await daemon(
    'node2',
    credentialsFor(pki, await pki.svid('node2', DB, ['10.100.2.21'])),
    dbPolicy,
    clock,
    ports,
  )
  t.teardown(async () => {
    web.loop.stop()
    db.loop.stop()
    await web.listening.server.close(true)
    await db.listening.server.close(true)
  })
  const planWeb = () =>
    web.loop.update(
      desiredPairs({
        localNode: 'node1',
        policy: webPolicy(),
        local: [{ id: WEB, ips: ['10.100.1.11'] }],
        remote: new Map([['node2', [{ id: DB, ips: ['10.100.2.21'] }]]]),
      }),
    )
  const planDb = () =>
    db.loop.update(
      desiredPairs({
        localNode: 'node2',
        policy: dbPolicy(),
        local: [{ id: DB, ips: ['10.100.2.21'] }],
        remote: new Map([['node1', [{ id: WEB, ips: ['10.100.1.11'] }]]]),
      }),
    )
  return { web, db, planWeb, planDb }
}

test('two daemons authenticate a planned pair once, re-authenticate before expiry, and revoke on policy removal', async (t) => {
  // the fake clock starts now: certificates are checked against it
  const clock = new FakeClock(Date.now())
  let policy = policyOf(TD, [WEB, DB])
  const { web, db, planWeb, planDb } = await webAndDb(t, clock, () => policy)
  const plan = () => {
    planWeb()
    planDb()
  }
  plan()
  await settle(() => web.entries.size === 1 && db.entries.size === 1)
  t.is(db.dials, 1, 'db (smaller SPIFFE ID) initiates')
  t.is(web.dials, 0, 'web only responds')
  t.deepEqual(web.log, ['auth server'])
  t.deepEqual(db.log, ['auth client'])
  const firstExpiry = db.entries.values().next().value as number
  t.is(web.entries.values().next().value, firstExpiry, 'both sides hold the same expiry')

  // past the responder's grace nothing more happens: the pair is authenticated
  clock.advance(10_000)
  await new Promise((r) => setTimeout(r, 200))
  t.is(db.dials + web.dials, 1)

  // at 2/3 of the 10 min lifetime the initiator re-authenticates
  clock.advance((TTL * 2) / 3)
  await settle(() => db.dials === 2 && web.log.length === 2)
  t.is(db.dials, 2)
  t.is(web.dials, 0)
  t.true((db.entries.values().next().value as number) > firstExpiry)

  // the policy stops allowing the pair: both delete their entries at once, no handshake
  policy = policyOf(TD)
  plan()
  t.is(web.entries.size, 0)
  t.is(db.entries.size, 0)
  t.is(web.log.at(-1), 'revoke removed')
  t.is(db.log.at(-1), 'revoke removed')
})

test('a responder whose initiator never dials authenticates itself after the grace', async (t) => {
  const clock = new FakeClock(Date.now())
  const policy = policyOf(TD, [WEB, DB])
  const { web, db, planWeb } = await webAndDb(t, clock, () => policy)
  // only web (the responder) plans; db's loop never learns of the pair
  planWeb()
  await settle(() => web.dials > 0)
  t.is(web.dials, 0)
  clock.advance(3_100)
  await settle(() => web.entries.size === 1)
  t.is(web.dials, 1)
  t.is(web.entries.size, 1)
  // db's server authenticated it, but db does not plan the pair, so it writes nothing
  t.is(db.entries.size, 0)
})

test('a pair refused by the responder’s old policy is dialed by the responder at once when its policy allows it', async (t) => {
  // the initiator reloaded first and was refused; it backs off (1 s+). The responder remembers the
  // refusal, so on its own reload it dials at once instead of waiting out the grace.
  const clock = new FakeClock(Date.now())
  const allowed = policyOf(TD, [WEB, DB])
  let webPolicy = policyOf(TD)
  const { web, db, planWeb, planDb } = await webAndDb(
    t,
    clock,
    () => webPolicy,
    () => allowed,
  )
  planWeb()
  planDb()
  await settle(() => db.dials === 1 && db.loop.inFlight === 0)
  t.is(db.dials, 1)
  t.is(db.loop.inFlight, 0, "db's dial has finished")
  t.is(db.entries.size, 0, 'refused by web')
  t.is(web.entries.size, 0)
  // web reloads: no clock advance, so neither the grace nor db's backoff has run out
  webPolicy = allowed
  planWeb()
  await settle(() => web.entries.size === 1 && db.entries.size === 1)
  t.is(web.dials, 1, 'web dialed at once')
  t.is(db.dials, 1, 'db is still backing off')
  t.is(web.entries.size, 1)
  t.is(db.entries.size, 1, 'db writes the entries of the pair web proved')
})

test('a refusal is remembered only for refusedMemoryMs and only for the policy reason', async (t) => {
  const clock = new FakeClock(Date.now())
  const planned = { key: 'k', local: WEB, remote: DB, node: 'node2', initiator: false }
  let dials = 0
  const loop = new PairAuthLoop({
    clock,
    refusedMemoryMs: 1_000,
    authenticate: async () => {
      dials++
      return new Promise(() => undefined)
    },
    onAuthenticated: () => undefined,
    onRevoked: () => undefined,
  })
  t.teardown(() => loop.stop())
  const refusal = (reason: 'policy_denied' | 'expired') => ({
    ok: false as const,
    role: 'server' as const,
    local: WEB,
    remote: DB,
    remoteNode: 'node2',
    reason,
    message: 'refused',
    by: 'local' as const,
    durationMs: 1,
  })
  const key = (await import('../../daemon/pairauth/index.js')).pairKey(WEB, DB, 'node2')
  const p = { ...planned, key }
  loop.accepted(refusal('expired'))
  loop.update([p])
  t.is(dials, 0, 'a refusal for another reason does not make the responder dial')
  loop.update([])
  loop.accepted(refusal('policy_denied'))
  clock.advance(1_001)
  loop.update([p])
  t.is(dials, 0, 'a refusal older than refusedMemoryMs is forgotten')
  loop.update([])
  loop.accepted(refusal('policy_denied'))
  loop.update([p])
  t.is(dials, 1, 'a recent policy refusal makes the responder dial at once')
})

test('a refusal made under the old policy while the pair is already planned under the new one makes this side dial at once', async (t) => {
  // the responder's server took the peer's dial before its reload and decided after it: the peer
  // backs off (1 s+), so this side dials now; the refusal is not counted as a failure of the pair
  const clock = new FakeClock(Date.now())
  let dials = 0
  const loop = new PairAuthLoop({
    clock,
    authenticate: async () => {
      dials++
      return new Promise(() => undefined)
    },
    onAuthenticated: () => undefined,
    onRevoked: () => undefined,
  })
  t.teardown(() => loop.stop())
  const { pairKey } = await import('../../daemon/pairauth/index.js')
  const key = pairKey(WEB, DB, 'node2')
  loop.update([{ key, local: WEB, remote: DB, node: 'node2', initiator: false }])
  t.is(dials, 0, 'the responder waits out its grace')
  const refusal = (reason: 'policy_denied' | 'expired') => ({
    ok: false as const,
    role: 'server' as const,
    local: WEB,
    remote: DB,
    remoteNode: 'node2',
    reason,
    message: 'refused',
    by: 'local' as const,
    durationMs: 1,
  })
  loop.accepted(refusal('expired'))
  t.is(dials, 0, 'a refusal for another reason does not make this side dial')
  t.is(loop.table.get(key)?.failures, 1, '… and counts as a failure')
  loop.update([])
  loop.update([{ key, local: WEB, remote: DB, node: 'node2', initiator: false }])
  loop.accepted(refusal('policy_denied'))
  t.is(dials, 1, 'dialed at once, no clock advance')
  t.is(loop.table.get(key)?.failures, 0)
  t.true(loop.table.get(key)?.inFlight)
  loop.accepted(refusal('policy_denied'))
  t.is(dials, 1, 'a second refusal while our dial is in flight does not dial again')
})

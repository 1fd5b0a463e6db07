/**
 * PairAuthLoop end to end on loopback: two daemons' loops with real pair-auth servers and clients and a
 * fake clock. Entries are written on both sides for planned pairs, re-authenticated before expiry,
 * and revoked at once when the policy stops allowing the pair.
 */
import test from 'ava'
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

test('two daemons authenticate a planned pair once, re-authenticate before expiry, and revoke on policy removal', async (t) => {
  // the fake clock starts now: certificates are checked against it
  const clock = new FakeClock(Date.now())
  let policy = policyOf(TD, [WEB, DB])
  const ports = new Map<string, number>()
  const web = await daemon(
    'node1',
    credentialsFor(pki, await pki.svid('node1', WEB, ['10.100.1.11'])),
    () => policy,
    clock,
    ports,
  )
  const db = await daemon(
    'node2',
    credentialsFor(pki, await pki.svid('node2', DB, ['10.100.2.21'])),
    () => policy,
    clock,
    ports,
  )
  t.teardown(async () => {
    web.loop.stop()
    db.loop.stop()
    await web.listening.server.close(true)
    await db.listening.server.close(true)
  })
  const plan = () => {
    web.loop.update(
      desiredPairs({
        localNode: 'node1',
        policy,
        local: [{ id: WEB, ips: ['10.100.1.11'] }],
        remote: new Map([['node2', [{ id: DB, ips: ['10.100.2.21'] }]]]),
      }),
    )
    db.loop.update(
      desiredPairs({
        localNode: 'node2',
        policy,
        local: [{ id: DB, ips: ['10.100.2.21'] }],
        remote: new Map([['node1', [{ id: WEB, ips: ['10.100.1.11'] }]]]),
      }),
    )
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
  const ports = new Map<string, number>()
  const web = await daemon(
    'node1',
    credentialsFor(pki, await pki.svid('node1', WEB, ['10.100.1.11'])),
    () => policy,
    clock,
    ports,
  )
  const db = await daemon(
    'node2',
    credentialsFor(pki, await pki.svid('node2', DB, ['10.100.2.21'])),
    () => policy,
    clock,
    ports,
  )
  t.teardown(async () => {
    web.loop.stop()
    db.loop.stop()
    await web.listening.server.close(true)
    await db.listening.server.close(true)
  })
  // only web (the responder) plans; db's loop never learns of the pair
  web.loop.update(
    desiredPairs({
      localNode: 'node1',
      policy,
      local: [{ id: WEB, ips: ['10.100.1.11'] }],
      remote: new Map([['node2', [{ id: DB, ips: ['10.100.2.21'] }]]]),
    }),
  )
  await settle(() => web.dials > 0)
  t.is(web.dials, 0)
  clock.advance(3_100)
  await settle(() => web.entries.size === 1)
  t.is(web.dials, 1)
  t.is(web.entries.size, 1)
  // db's server authenticated it, but db does not plan the pair, so it writes nothing
  t.is(db.entries.size, 0)
})

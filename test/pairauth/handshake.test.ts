/**
 * The identity-pair handshake on loopback with a real PKI: node1's daemon authenticates its workload
 * against node2's, both sides verify, and both report the same verdict (the reason travels to the peer).
 */
import test from 'ava'
import { forge } from '../certs/helpers.js'
import { longChain } from '../handshake/long-chain.js'
import { API, DB, PairPki, policyOf, TD, WEB } from './fixture.js'
import { credentialsFor, dial, listen, type Side, verdictOf } from './harness.js'

let pki: PairPki
let foreign: PairPki

test.before(async () => {
  pki = await PairPki.create()
  foreign = await PairPki.create('other.latch')
})

test.after.always(async () => {
  await pki?.remove()
  await foreign?.remove()
})

const HOUR = 3_600_000

test('an allowed pair authenticates on both sides, until now + TTL when the TTL ends first', async (t) => {
  const web = await pki.svid('node1', WEB, ['10.100.1.11'])
  const db = await pki.svid('node2', DB, ['10.100.2.21', '10.100.2.22'])
  const policy = policyOf(TD, [WEB, DB])
  const b: Side = { node: 'node2', credentials: credentialsFor(pki, db), policy, ttlMs: 60_000 }
  const a: Side = { node: 'node1', credentials: credentialsFor(pki, web), policy, ttlMs: 90_000 }
  const l = await listen(pki, b)
  t.teardown(() => l.server.close(true))
  const before = Date.now()
  const client = await dial(pki, a, { node: 'node2', port: l.port }, WEB, DB)
  const server = await l.next()
  const after = Date.now()
  if (!client.ok || !server.ok) return t.fail(`client ${verdictOf(client)}, server ${verdictOf(server)}`)
  t.like(client, { role: 'client', local: WEB, remote: DB, remoteNode: 'node2' })
  t.deepEqual(client.remoteIps, ['10.100.2.21', '10.100.2.22'])
  t.like(server, { role: 'server', local: DB, remote: WEB, remoteNode: 'node1' })
  t.deepEqual(server.remoteIps, ['10.100.1.11'])
  // the shorter TTL (the server's 60 s) wins on both sides
  t.is(client.expiresAt.getTime(), server.expiresAt.getTime())
  t.true(client.expiresAt.getTime() >= before + 60_000 && client.expiresAt.getTime() <= after + 60_000)
})

test('an allowed pair expires with the earlier certificate when it ends before the TTL', async (t) => {
  const web = await pki.svid('node1', WEB, ['10.100.1.11'], { ttl: '2h' })
  const db = await pki.svid('node2', DB, ['10.100.2.21'], { ttl: '30m' })
  const policy = policyOf(TD, [DB, WEB])
  const l = await listen(pki, {
    node: 'node2',
    credentials: credentialsFor(pki, db),
    policy,
    ttlMs: 4 * HOUR,
  })
  t.teardown(() => l.server.close(true))
  const a: Side = { node: 'node1', credentials: credentialsFor(pki, web), policy, ttlMs: 4 * HOUR }
  const client = await dial(pki, a, { node: 'node2', port: l.port }, WEB, DB)
  const server = await l.next()
  if (!client.ok || !server.ok) return t.fail(`client ${verdictOf(client)}, server ${verdictOf(server)}`)
  t.is(client.expiresAt.getTime(), db.notAfter.getTime())
  t.is(server.expiresAt.getTime(), db.notAfter.getTime())
})

interface RefusalCase {
  name: string
  /** node1's SVID for `local`, and node2's SVID for `remote`. */
  client: () => Promise<{ spiffeId: string; chainPem: string; keyPem: string }>
  server: () => Promise<{ spiffeId: string; chainPem: string; keyPem: string }>
  clientPolicy?: [string, string][]
  serverPolicy?: [string, string][]
  /** The identity the client asks for (default: the server's SVID). */
  ask?: string
  /** The client's loopback source (default node1's). */
  from?: string
  clientSees: string
  serverSees: string
}

const allowAll: [string, string][] = [
  [WEB, DB],
  [API, DB],
]
const web = () => pki.svid('node1', WEB, ['10.100.1.11'])
const db = () => pki.svid('node2', DB, ['10.100.2.21'])
const node1Key = () => ({
  issuerCertPem: pki.node('node1').intermediateCertPem,
  issuerKeyPem: pki.node('node1').intermediateKeyPem,
})
const asSvid = (spiffeId: string) => (f: { chainPem: string; keyPem: string }) => ({ spiffeId, ...f })
const longAgo = new Date(Date.now() - 3 * HOUR)

const refusals: RefusalCase[] = [
  {
    name: "the server's policy does not allow the pair: both sides see policy_denied",
    client: web,
    server: db,
    serverPolicy: [[API, DB]],
    clientSees: 'peer:policy_denied',
    serverSees: 'local:policy_denied',
  },
  {
    name: "the client's policy does not allow the pair: both sides see policy_denied",
    client: web,
    server: db,
    clientPolicy: [[API, DB]],
    clientSees: 'local:policy_denied',
    serverSees: 'peer:policy_denied',
  },
  {
    name: 'a client SVID issued by another node (node3) is outside the sending node1 constraints',
    client: () => pki.svid('node3', WEB, ['10.100.3.11']),
    server: db,
    clientSees: 'peer:svid_outside_node_constraints',
    serverSees: 'local:svid_outside_node_constraints',
  },
  {
    name: "a client SVID forged with node1's intermediate key for an IP outside its constraints is refused",
    client: () => forge({ ...node1Key(), uris: [WEB], ips: ['10.200.0.5'] }).then(asSvid(WEB)),
    server: db,
    clientSees: 'peer:svid_outside_node_constraints',
    serverSees: 'local:svid_outside_node_constraints',
  },
  {
    name: 'a server SVID issued by another node (node3) is refused by the client',
    client: web,
    server: () => pki.svid('node3', DB, ['10.100.3.21']),
    clientSees: 'local:svid_outside_node_constraints',
    serverSees: 'peer:svid_outside_node_constraints',
  },
  {
    name: 'an expired client SVID is refused as expired',
    client: () => pki.svid('node1', WEB, ['10.100.1.11'], { ttl: '1h', now: longAgo }),
    server: db,
    clientSees: 'peer:expired',
    serverSees: 'local:expired',
  },
  {
    name: 'an expired server SVID is refused as expired',
    client: web,
    server: () => pki.svid('node2', DB, ['10.100.2.21'], { ttl: '1h', now: longAgo }),
    clientSees: 'local:expired',
    serverSees: 'peer:expired',
  },
  {
    name: 'an SVID of another trust domain is refused as wrong_trust_domain',
    client: () =>
      forge({ ...node1Key(), uris: ['spiffe://other.latch/ns/shop/sa/web'], ips: ['10.100.1.11'] }).then(
        asSvid('spiffe://other.latch/ns/shop/sa/web'),
      ),
    server: db,
    clientSees: 'peer:wrong_trust_domain',
    serverSees: 'local:wrong_trust_domain',
  },
  {
    name: 'an SVID from another CA is refused as untrusted',
    client: () => foreign.svid('node1', 'spiffe://other.latch/ns/shop/sa/web', ['10.100.1.11']),
    server: db,
    clientSees: 'peer:untrusted_svid',
    serverSees: 'local:untrusted_svid',
  },
  {
    name: 'a client SVID with 150 self-made CAs above it is refused on OpenSSL verdict as untrusted',
    client: () => longChain(150, { uris: [WEB], ips: ['10.100.1.11'] }).then(asSvid(WEB)),
    server: db,
    clientSees: 'peer:untrusted_svid',
    serverSees: 'local:untrusted_svid',
  },
  {
    name: 'a server asked for an identity it does not host refuses with unknown_identity',
    client: web,
    server: db,
    ask: API,
    clientSees: 'peer:unknown_identity',
    serverSees: 'local:unknown_identity',
  },
  {
    name: 'a connection from an address that is no peer node is refused with unknown_node',
    client: web,
    server: db,
    from: '127.0.0.99',
    clientSees: 'peer:unknown_node',
    serverSees: 'local:unknown_node',
  },
  {
    name: 'a node-certificate-like leaf (a CA) is not a workload SVID',
    client: () => forge({ ...node1Key(), uris: [WEB], ips: ['10.100.1.11'], ca: true }).then(asSvid(WEB)),
    server: db,
    clientSees: 'peer:invalid_svid',
    serverSees: 'local:invalid_svid',
  },
]

for (const c of refusals) {
  test(c.name, async (t) => {
    const clientSvid = await c.client()
    const serverSvid = await c.server()
    const l = await listen(pki, {
      node: 'node2',
      credentials: credentialsFor(pki, serverSvid),
      policy: policyOf(TD, ...(c.serverPolicy ?? allowAll)),
    })
    t.teardown(() => l.server.close(true))
    const a: Side = {
      node: 'node1',
      credentials: credentialsFor(pki, clientSvid),
      policy: policyOf(TD, ...(c.clientPolicy ?? allowAll)),
    }
    const from = c.from
    const client = await (from === undefined
      ? dial(pki, a, { node: 'node2', port: l.port }, clientSvid.spiffeId, c.ask ?? serverSvid.spiffeId)
      : dialFrom(a, from, l.port, clientSvid.spiffeId, c.ask ?? serverSvid.spiffeId))
    const server = await l.next()
    t.is(verdictOf(client), c.clientSees, client.ok ? '' : client.message)
    t.is(verdictOf(server), c.serverSees, server.ok ? '' : server.message)
    if (!client.ok && !server.ok) {
      // the reason's message reaches the peer unchanged
      t.is(client.message, server.message)
    }
  })
}

async function dialFrom(a: Side, address: string, port: number, local: string, remote: string) {
  const { authenticatePair } = await import('../../daemon/pairauth/index.js')
  return authenticatePair({
    trust: pki.trust(),
    credentials: a.credentials,
    local,
    remote,
    peer: { node: 'node2', address: pki.node('node2').address, port },
    localAddress: address,
    constraints: pki.constraintsFor('node2'),
    policy: a.policy,
    ttlMs: HOUR,
  })
}

test('a client without an SVID for its workload refuses locally and dials nobody', async (t) => {
  const l = await listen(pki, {
    node: 'node2',
    credentials: credentialsFor(pki, await db()),
    policy: policyOf(TD),
  })
  t.teardown(() => l.server.close(true))
  const a: Side = { node: 'node1', credentials: credentialsFor(pki), policy: policyOf(TD, [WEB, DB]) }
  const client = await dial(pki, a, { node: 'node2', port: l.port }, WEB, DB)
  t.is(verdictOf(client), 'local:no_credentials')
  t.is(l.outcomes.length, 0)
})

test('a client without a node session with the server refuses locally with unknown_node', async (t) => {
  const { authenticatePair } = await import('../../daemon/pairauth/index.js')
  const client = await authenticatePair({
    trust: pki.trust(),
    credentials: credentialsFor(pki, await web()),
    local: WEB,
    remote: DB,
    peer: { node: 'node9', address: '127.0.0.1', port: 9 },
    constraints: undefined,
    policy: policyOf(TD, [WEB, DB]),
    ttlMs: HOUR,
  })
  t.is(verdictOf(client), 'local:unknown_node')
})

test('a closed pair-auth port is reported as unreachable', async (t) => {
  const l = await listen(pki, {
    node: 'node2',
    credentials: credentialsFor(pki, await db()),
    policy: policyOf(TD),
  })
  const port = l.port
  await l.server.close(true)
  const a: Side = {
    node: 'node1',
    credentials: credentialsFor(pki, await web()),
    policy: policyOf(TD, [WEB, DB]),
  }
  const client = await dial(pki, a, { node: 'node2', port }, WEB, DB)
  t.is(verdictOf(client), 'transport:unreachable')
})

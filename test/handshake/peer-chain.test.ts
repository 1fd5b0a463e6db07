/**
 * Cheap checks first (issue 11), on real TLS connections: screenPeer() looks at OpenSSL's verdict
 * before anything walks the peer's chain, and walks an accepted chain at most MAX_PEER_CHAIN + 1
 * certificates deep, refusing a longer one (chain_too_long) before latch's verification parses it.
 */
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { connect, createServer, type TLSSocket } from 'node:tls'
import test from 'ava'
import { MAX_PEER_CHAIN, peerChain, screenPeer } from '../../daemon/handshake/peer-chain.js'
import { type LongChain, longChain } from './long-chain.js'

/** A TLS server presenting `chain`; the client socket that connected to it (trusting `ca`, if any). */
async function clientOf(chain: LongChain, ca?: string): Promise<TLSSocket> {
  const server = createServer({ cert: chain.chainPem, key: chain.keyPem }, (s) => s.on('error', () => {}))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = connect({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    rejectUnauthorized: false,
    // as latch's dialers: the identity is the SPIFFE ID, not a host name
    checkServerIdentity: () => undefined,
    ...(ca && { ca }),
  })
  await once(socket, 'secureConnect')
  socket.on('close', () => server.close())
  return socket
}

let hostile: LongChain
let short: LongChain
let tooLong: LongChain
test.before(async () => {
  hostile = await longChain(150, { uris: ['spiffe://test.latch/latch/node/node9'] })
  short = await longChain(2, { uris: ['spiffe://test.latch/latch/node/node9'] })
  tooLong = await longChain(MAX_PEER_CHAIN, { uris: ['spiffe://test.latch/latch/node/node9'] })
})

test('a leaf with 150 self-made CAs is refused on OpenSSL verdict alone, without a chain walk', async (t) => {
  const socket = await clientOf(hostile)
  t.teardown(() => socket.destroy())
  const s = screenPeer(socket)
  if (s.ok || s.refusal !== 'untrusted') return t.fail(JSON.stringify(s))
  t.regex(s.message, /^TLS path validation failed: [A-Z_]+ \(/)
  t.deepEqual(s.leafDer, socket.getPeerCertificate().raw)
})

test('a chain OpenSSL accepts but longer than a latch chain is chain_too_long', async (t) => {
  // leaf + MAX_PEER_CHAIN CAs, the top one trusted: OpenSSL says yes, the bound says no
  const socket = await clientOf(tooLong, tooLong.topPem)
  t.teardown(() => socket.destroy())
  t.true(socket.authorized, String(socket.authorizationError))
  const s = screenPeer(socket)
  t.like(s, { ok: false, refusal: 'chain_too_long' })
})

test('a trusted chain of a latch length passes whole, leaf first', async (t) => {
  const socket = await clientOf(short, short.topPem)
  t.teardown(() => socket.destroy())
  const s = screenPeer(socket)
  if (!s.ok) return t.fail(JSON.stringify(s))
  t.is(s.chain.length, 3)
  t.deepEqual(s.chain[0], socket.getPeerX509Certificate()?.raw)
})

test('the chain walk itself stops one certificate past the bound', async (t) => {
  const socket = await clientOf(hostile)
  t.teardown(() => socket.destroy())
  t.is(peerChain(socket).length, MAX_PEER_CHAIN + 1)
  t.is(peerChain(socket, 200).length, 151)
})

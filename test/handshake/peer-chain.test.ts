/**
 * Cheap checks first: the peer's chain is read at most MAX_PEER_CHAIN + 1 certificates deep, so
 * a peer sending a leaf and 150 CAs is refused (chain_too_long) before latch parses any of them.
 */
import type { TLSSocket } from 'node:tls'
import test from 'ava'
import { MAX_PEER_CHAIN, peerChain } from '../../daemon/handshake/peer-chain.js'

interface FakeCert {
  raw: Buffer
  fingerprint256: string
  issuerCertificate?: FakeCert
}

function socketWithChain(length: number): TLSSocket {
  let issuer: FakeCert | undefined
  for (let i = length - 1; i >= 0; i--) {
    issuer = { raw: Buffer.from([i]), fingerprint256: `fp${i}`, ...(issuer && { issuerCertificate: issuer }) }
  }
  return { getPeerCertificate: () => issuer ?? {} } as unknown as TLSSocket
}

test('a chain of a latch length is read whole', (t) => {
  t.is(peerChain(socketWithChain(2)).length, 2)
  t.is(peerChain(socketWithChain(MAX_PEER_CHAIN)).length, MAX_PEER_CHAIN)
})

test('a leaf with 150 CAs is read only one certificate past the bound', (t) => {
  const chain = peerChain(socketWithChain(151))
  t.is(chain.length, MAX_PEER_CHAIN + 1)
  t.deepEqual(chain[0], Buffer.from([0]))
})

test('a self-issued loop ends the walk', (t) => {
  const leaf: FakeCert = { raw: Buffer.from([1]), fingerprint256: 'same' }
  leaf.issuerCertificate = leaf
  t.is(peerChain({ getPeerCertificate: () => leaf } as unknown as TLSSocket).length, 1)
})

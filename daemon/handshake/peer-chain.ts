/**
 * The certificate chain a TLS peer sent, leaf first, as DER (what verify() takes), behind the cheap
 * checks (issue 11). Used by the node handshake and by pair authentication.
 *
 * screenPeer() looks, in this order, at: OpenSSL's verdict, which node:tls left on the socket (a chain
 * OpenSSL refused with a code that names the fault — unknown issuer, expired, … — is not walked or
 * parsed by latch: a peer sending a leaf and 150 self-made CAs costs one verdict lookup and one
 * certificate object, to tell no certificate from a refused one); whether there is a leaf at all; the
 * chain's length (one getPeerCertificate(true), the only one per connection; the walk stops
 * after MAX_PEER_CHAIN + 1 certificates and a longer chain is refused, chain_too_long). Only a chain
 * that passed all three goes to latch's own verification (checkPeerCertificate, checkPeerSvid),
 * which looks at OpenSSL's verdict again: a refusal OpenSSL could not name (node:tls says
 * UNSPECIFIED, e.g. a name-constraint violation) gets its precise reason from verify() on that
 * short chain, and is a refusal either way.
 */
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'
import type { VerifyReason } from '../../certs/index.js'
import { opensslVerdict } from './openssl-verdict.js'

/** Certificates a latch peer sends: leaf, node intermediate, root, and one spare for a CA rotation. */
export const MAX_PEER_CHAIN = 4

export function peerChain(socket: TLSSocket, limit = MAX_PEER_CHAIN): Buffer[] {
  return chainOf(socket.getPeerCertificate(true), limit)
}

/** The DER chain of a detailed peer certificate (getPeerCertificate(true)), leaf first. */
function chainOf(first: DetailedPeerCertificate | undefined, limit: number): Buffer[] {
  const out: Buffer[] = []
  const seen = new Set<string>()
  let cert = first
  while (cert?.raw && !seen.has(cert.fingerprint256) && out.length <= limit) {
    seen.add(cert.fingerprint256)
    out.push(cert.raw)
    cert = cert.issuerCertificate
  }
  return out
}

export type Screened =
  | { ok: true; chain: Buffer[] }
  | { ok: false; refusal: 'no_certificate'; message: string }
  /** OpenSSL refused the chain with a code that names the fault (`reason`, verify()'s word for it). */
  | { ok: false; refusal: 'untrusted'; reason: VerifyReason; message: string; leafDer: Buffer }
  | { ok: false; refusal: 'chain_too_long'; message: string; leafDer: Buffer }

/**
 * `presented`: the peer's getPeerCertificate(true) when the caller already has it (node:tls hands it
 * to checkServerIdentity on a client socket): building it is the dearest part of the screen, and it
 * is then not built again.
 */
export function screenPeer(socket: TLSSocket, presented?: DetailedPeerCertificate): Screened {
  const tls = opensslVerdict(socket.authorized, String(socket.authorizationError ?? ''))
  if (!tls.ok && tls.reason !== undefined) {
    // refused by OpenSSL with a named fault: the leaf only (not getPeerX509Certificate: called first,
    // it leaves getPeerCertificate(true) without the issuer chain on a server socket, node 20)
    const leaf = presented ?? socket.getPeerCertificate()
    if (!leaf?.raw)
      return { ok: false, refusal: 'no_certificate', message: 'the peer presented no certificate' }
    return { ok: false, refusal: 'untrusted', reason: tls.reason, message: tls.message, leafDer: leaf.raw }
  }
  // one getPeerCertificate(true): the leaf and its issuers in one call
  const detailed = presented ?? socket.getPeerCertificate(true)
  if (!detailed?.raw)
    return { ok: false, refusal: 'no_certificate', message: 'the peer presented no certificate' }
  const chain = chainOf(detailed, MAX_PEER_CHAIN)
  if (chain.length > MAX_PEER_CHAIN) {
    return {
      ok: false,
      refusal: 'chain_too_long',
      message: `the peer sent more than ${MAX_PEER_CHAIN} certificates`,
      leafDer: detailed.raw,
    }
  }
  // OpenSSL may still have refused (a code without a reason): the check functions read its verdict
  return { ok: true, chain }
}

/**
 * The certificate chain a TLS peer sent, leaf first, as DER (what verify() takes), behind the cheap
 * checks (issue 11). Used by the node handshake and by pair authentication.
 *
 * screenPeer() looks, in this order, at: whether there is a leaf at all (one certificate object, no
 * chain walk); OpenSSL's verdict, which node:tls left on the socket (a chain OpenSSL refused with a
 * code that names the fault — unknown issuer, expired, … — is not walked or parsed by latch: a peer
 * sending a leaf and 150 self-made CAs costs one verdict lookup); the chain's length (the walk stops
 * after MAX_PEER_CHAIN + 1 certificates and a longer chain is refused, chain_too_long). Only a chain
 * that passed all three goes to latch's own verification (checkPeerCertificate, checkPeerSvid),
 * which looks at OpenSSL's verdict again: a refusal OpenSSL could not name (node:tls says
 * UNSPECIFIED, e.g. a name-constraint violation) gets its precise reason from verify() on that
 * short chain, and is a refusal either way.
 */
import type { TLSSocket } from 'node:tls'
import type { VerifyReason } from '../../certs/index.js'
import { opensslVerdict } from './openssl-verdict.js'

/** Certificates a latch peer sends: leaf, node intermediate, root, and one spare for a CA rotation. */
export const MAX_PEER_CHAIN = 4

export function peerChain(socket: TLSSocket, limit = MAX_PEER_CHAIN): Buffer[] {
  const out: Buffer[] = []
  const seen = new Set<string>()
  let cert = socket.getPeerCertificate(true)
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

export function screenPeer(socket: TLSSocket): Screened {
  // the leaf only (not getPeerX509Certificate: called first, it leaves getPeerCertificate(true)
  // without the issuer chain on a server socket, node 20)
  const leaf = socket.getPeerCertificate()
  if (!leaf?.raw)
    return { ok: false, refusal: 'no_certificate', message: 'the peer presented no certificate' }
  const tls = opensslVerdict(socket.authorized, String(socket.authorizationError ?? ''))
  if (!tls.ok && tls.reason !== undefined) {
    return { ok: false, refusal: 'untrusted', reason: tls.reason, message: tls.message, leafDer: leaf.raw }
  }
  const chain = peerChain(socket)
  if (chain.length > MAX_PEER_CHAIN) {
    return {
      ok: false,
      refusal: 'chain_too_long',
      message: `the peer sent more than ${MAX_PEER_CHAIN} certificates`,
      leafDer: leaf.raw,
    }
  }
  // OpenSSL may still have refused (a code without a reason): the check functions read its verdict
  return { ok: true, chain }
}

/** notAfter of the certificate this side presented on `socket`. */
export function presentedNotAfter(socket: TLSSocket): Date | undefined {
  const own = socket.getX509Certificate()
  return own === undefined ? undefined : new Date(own.validTo)
}

/**
 * The certificate chain a TLS peer sent, leaf first, as DER (what verify() takes). Used by the node
 * handshake and by pair authentication.
 *
 * Cheap checks first (issue 11): the walk stops after MAX_PEER_CHAIN + 1 certificates, and a chain
 * longer than MAX_PEER_CHAIN is refused (chain_too_long) by the callers before latch's own
 * verification parses any of it, so a peer sending a leaf and 150 self-made CAs costs nothing.
 */
import type { TLSSocket } from 'node:tls'

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

/** notAfter of the certificate this side presented on `socket`. */
export function presentedNotAfter(socket: TLSSocket): Date | undefined {
  const own = socket.getX509Certificate()
  return own === undefined ? undefined : new Date(own.validTo)
}

/**
 * The certificate chain a TLS peer sent, leaf first, as DER (what verify() takes). Used by the node
 * handshake and by pair authentication.
 */
import type { TLSSocket } from 'node:tls'

export function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = []
  const seen = new Set<string>()
  let cert = socket.getPeerCertificate(true)
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
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

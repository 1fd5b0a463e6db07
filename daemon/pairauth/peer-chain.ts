/**
 * The certificate chain a TLS peer sent, leaf first, as DER (what verify() takes): the leaf and the
 * certificates it sent that link up by issuer (node:crypto's issuerCertificate), the way OpenSSL
 * pairs them. The root comes from our trust bundle in verify(), not from the peer.
 *
 * getPeerX509Certificate() instead of getPeerCertificate(true): the latter turns every certificate
 * of the chain into a JS object of all its fields (subject, SANs, key, infoAccess, …) per handshake,
 * a sizeable share of pair-auth CPU, for the DER we actually use.
 */
import type { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'

/** Deeper than any chain verify() accepts (MAX_PATH 8): a guard, not a limit that matters. */
const MAX_CHAIN = 10

export function peerChain(socket: TLSSocket): Buffer[] {
  const out: Buffer[] = []
  const seen = new Set<string>()
  let cert: X509Certificate | undefined = socket.getPeerX509Certificate()
  while (cert !== undefined && out.length < MAX_CHAIN && !seen.has(cert.fingerprint256)) {
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

/**
 * The fingerprint of a node certificate: `sha256:` + the lowercase hex SHA-256 of its DER. A discovery
 * registration names it; the handshake compares it with the certificate the peer actually proved.
 */
import { X509Certificate } from 'node:crypto'

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/

/** Fingerprint of the first certificate of `pem` (a leaf-first chain is fine) or of a DER buffer. */
export function certFingerprint(cert: string | Buffer): string {
  const input = typeof cert === 'string' ? (PEM_BLOCK.exec(cert)?.[0] ?? cert) : cert
  const hex = new X509Certificate(input).fingerprint256.replaceAll(':', '').toLowerCase()
  return `sha256:${hex}`
}

export const FINGERPRINT_PATTERN = /^sha256:[0-9a-f]{64}$/

/**
 * Normalising the many shapes a certificate chain arrives in (PEM text, DER buffers, node:crypto
 * X509Certificate from a TLS socket, @peculiar/x509 certificates) into one parsed form.
 */
import { X509Certificate as NodeX509 } from 'node:crypto'
import { CERT_BLOCK, x509 } from './x509.js'

export type CertInput = string | Buffer | Uint8Array | NodeX509 | x509.X509Certificate
export type ChainInput = CertInput | readonly CertInput[]

/** One certificate, parsed by both node:crypto (signatures, OpenSSL) and @peculiar/x509 (extensions). */
export interface ParsedCert {
  readonly node: NodeX509
  readonly x509: x509.X509Certificate
  readonly der: Buffer
}

function derOf(input: CertInput): Buffer[] {
  if (typeof input === 'string') {
    const blocks = input.match(CERT_BLOCK) ?? []
    if (blocks.length === 0) throw new Error('no PEM CERTIFICATE block')
    return blocks.map((b) => new NodeX509(b).raw)
  }
  if (input instanceof NodeX509) return [input.raw]
  if (input instanceof x509.X509Certificate) return [Buffer.from(input.rawData)]
  return [Buffer.from(input)]
}

/** Parse every certificate in `input`, in order. Throws a plain Error on anything unparsable. */
export function parseChain(input: ChainInput): ParsedCert[] {
  const items: readonly CertInput[] = Array.isArray(input) ? input : [input as CertInput]
  return items
    .flatMap(derOf)
    .map((der) => ({ node: new NodeX509(der), x509: new x509.X509Certificate(der), der }))
}

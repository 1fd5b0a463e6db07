/**
 * The one place @peculiar/x509 is set up (it needs reflect-metadata loaded first and a WebCrypto
 * provider), plus PEM reading/writing and the certificate-signing call every issuer uses.
 */
import 'reflect-metadata'
import { randomBytes, webcrypto } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as x509 from '@peculiar/x509'
import { LatchError } from '../daemon/base/errors.js'
import { KEY_ALGORITHM } from './defaults.js'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

/** The WebCrypto key type as @peculiar/x509 declares it (the DOM's CryptoKey; this project has no DOM lib). */
export type X509Key = x509.X509CertificateCreateWithKeyParams['signingKey']

export { x509 }

export const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Every CERTIFICATE block in `pem`, in order (leaf first by convention). */
export function parseCertificates(pem: string, source = 'the input'): x509.X509Certificate[] {
  const blocks = pem.match(CERT_BLOCK) ?? []
  if (blocks.length === 0) {
    throw new LatchError('LATCH_ERR_PKI_CERT_UNREADABLE', `${source} holds no PEM CERTIFICATE block`, {
      details: { source },
    })
  }
  return blocks.map((block, i) => {
    try {
      return new x509.X509Certificate(block)
    } catch (cause) {
      throw new LatchError(
        'LATCH_ERR_PKI_CERT_UNREADABLE',
        `certificate #${i + 1} in ${source} is not valid DER`,
        {
          cause,
          details: { source, index: i },
        },
      )
    }
  })
}

/** Read a PEM file and return its text after checking it parses as one or more certificates. */
export async function loadPem(file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error'
    throw new LatchError('LATCH_ERR_PKI_CERT_UNREADABLE', `cannot read certificate file ${file} (${code})`, {
      cause,
      details: { file },
    })
  }
  parseCertificates(text, file)
  return text
}

export async function loadCertificates(file: string): Promise<x509.X509Certificate[]> {
  return parseCertificates(await loadPem(file), file)
}

export function toPem(...certs: x509.X509Certificate[]): string {
  return certs.map((c) => `${c.toString('pem').trim()}\n`).join('')
}

/** A positive 128-bit serial number (RFC 5280 §4.1.2.2: at most 20 octets, non-negative). */
function serialNumber(): string {
  const bytes = randomBytes(16)
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01
  return bytes.toString('hex')
}

export interface SignParams {
  subject: string
  issuer: string
  publicKey: webcrypto.CryptoKey
  signingKey: webcrypto.CryptoKey
  notBefore: Date
  notAfter: Date
  extensions: x509.Extension[]
}

export function signCertificate(p: SignParams): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: p.subject,
    issuer: p.issuer,
    publicKey: p.publicKey as unknown as X509Key,
    signingKey: p.signingKey as unknown as X509Key,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: p.extensions,
  })
}

/** A distinguished-name attribute value with the characters RFC 4514 asks to escape escaped. */
export function dnValue(text: string): string {
  return text.slice(0, 64).replace(/[,+"\\<>;=]/g, '\\$&')
}

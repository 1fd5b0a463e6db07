/**
 * Private keys: generation (ECDSA P-256 from node:crypto) and reading key files safely.
 * A key file that group or others can read is refused: whoever could read it could be that identity.
 */
import { createPrivateKey, type KeyObject, webcrypto } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { LatchError } from '../daemon/base/errors.js'
import { KEY_ALGORITHM } from './defaults.js'

export interface GeneratedKey {
  /** For signing and for the public key in certificates (@peculiar/x509 takes WebCrypto keys). */
  readonly keys: webcrypto.CryptoKeyPair
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), what gets written to disk with mode 0600. */
  readonly pem: string
}

export async function generateKey(): Promise<GeneratedKey> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { keys, pem: pkcs8Pem(Buffer.from(pkcs8)) }
}

function pkcs8Pem(der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`
}

/** A private key PEM (any form OpenSSL reads) as a WebCrypto signing key for @peculiar/x509. */
export async function signingKeyFromPem(pem: string, source = 'the key'): Promise<webcrypto.CryptoKey> {
  const key = keyObjectFromPem(pem, source)
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new LatchError('LATCH_ERR_PKI_KEY_UNREADABLE', `${source} is not an ECDSA P-256 key`, {
      details: { source, type: key.asymmetricKeyType },
    })
  }
  const der = key.export({ type: 'pkcs8', format: 'der' })
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign'])
}

export function keyObjectFromPem(pem: string, source = 'the key'): KeyObject {
  try {
    return createPrivateKey(pem)
  } catch (cause) {
    throw new LatchError('LATCH_ERR_PKI_KEY_UNREADABLE', `${source} is not a PEM private key`, {
      cause,
      details: { source },
    })
  }
}

/**
 * Read a private key file and return its PEM text after checking that it is a private key and that
 * only its owner can read it. Errors: LATCH_ERR_PKI_KEY_UNREADABLE (missing, unreadable, not a key),
 * LATCH_ERR_PKI_KEY_PERMISSIONS (group/world-readable).
 */
export async function readPrivateKey(file: string): Promise<string> {
  let mode: number
  let pem: string
  try {
    mode = (await stat(file)).mode
    pem = await readFile(file, 'utf8')
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error'
    throw new LatchError('LATCH_ERR_PKI_KEY_UNREADABLE', `cannot read key file ${file} (${code})`, {
      cause,
      details: { file },
    })
  }
  if ((mode & 0o077) !== 0) {
    throw new LatchError(
      'LATCH_ERR_PKI_KEY_PERMISSIONS',
      `key file ${file} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; group and others must have no access`,
      { details: { file, mode: mode & 0o777 } },
    )
  }
  keyObjectFromPem(pem, `key file ${file}`)
  return pem
}

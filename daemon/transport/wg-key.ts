import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, mkdir, open, readFile, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { LatchError } from '../base/errors.js'

/** A WireGuard key is 32 bytes; its text form is standard base64 (44 characters). */
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/

/** PKCS#8 DER prefix of an X25519 private key (RFC 8410); the 32 raw bytes follow it. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

export function isWireguardKey(s: string): boolean {
  return KEY_RE.test(s)
}

/** The public key of a base64 X25519 private key (what `wg pubkey` prints). */
export function publicKeyOf(privateKey: string): string {
  const raw = Buffer.from(privateKey, 'base64')
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  return spki.subarray(spki.length - 32).toString('base64')
}

/**
 * A new private key: 32 random bytes clamped per RFC 7748, exactly what `wg genkey` does.
 * (Not generateKeyPairSync + JWK export: on Node 20 exporting many X25519 keys as JWK can
 * deadlock in node::crypto when GC finalizes a key-generation job meanwhile.)
 */
export function generatePrivateKey(): string {
  const raw = randomBytes(32)
  raw[0] = (raw[0] ?? 0) & 248
  raw[31] = ((raw[31] ?? 0) & 127) | 64
  return raw.toString('base64')
}

/**
 * Read the private key file, creating it (0600, in a 0700 directory if the directory is missing)
 * when it does not exist. An existing file is never overwritten; a file readable by group/others
 * or not holding one key is refused.
 */
export async function ensurePrivateKeyFile(
  file: string,
): Promise<{ privateKey: string; publicKey: string; created: boolean }> {
  const existing = await readKeyFile(file)
  if (existing !== undefined)
    return { privateKey: existing, publicKey: publicKeyOf(existing), created: false }
  const privateKey = generatePrivateKey()
  if (!(await writeKeyFileExclusive(file, privateKey))) {
    // another process created it first: use theirs
    const theirs = await readKeyFile(file)
    if (theirs === undefined) {
      throw new LatchError(
        'LATCH_ERR_WG_KEY_WRITE_FAILED',
        `the WireGuard key file ${file} vanished while being created`,
        {
          details: { file },
        },
      )
    }
    return { privateKey: theirs, publicKey: publicKeyOf(theirs), created: false }
  }
  return { privateKey, publicKey: publicKeyOf(privateKey), created: true }
}

async function readKeyFile(file: string): Promise<string | undefined> {
  let mode: number
  try {
    mode = (await stat(file)).mode
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new LatchError('LATCH_ERR_WG_KEY_INVALID', `cannot read the WireGuard key file ${file}`, {
      cause: err,
      details: { file },
    })
  }
  if ((mode & 0o077) !== 0) {
    throw new LatchError(
      'LATCH_ERR_WG_KEY_PERMISSIONS',
      `WireGuard key file ${file} has mode ${(mode & 0o777).toString(8)}`,
      {
        details: { file },
      },
    )
  }
  const text = (await readFile(file, 'utf8')).trim()
  if (!isWireguardKey(text)) {
    throw new LatchError(
      'LATCH_ERR_WG_KEY_INVALID',
      `WireGuard key file ${file} does not hold a base64 32-byte key`,
      {
        details: { file },
      },
    )
  }
  return text
}

/**
 * Write via a temp file + link(2), so a crash never leaves a half-written key and of two racing
 * writers exactly one wins. false: the file appeared meanwhile (nothing was replaced).
 */
async function writeKeyFileExclusive(file: string, key: string): Promise<boolean> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    try {
      await fh.writeFile(`${key}\n`)
      await fh.sync()
    } finally {
      await fh.close()
    }
    try {
      await link(tmp, file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
    return true
  } catch (err) {
    throw new LatchError('LATCH_ERR_WG_KEY_WRITE_FAILED', `cannot create the WireGuard key file ${file}`, {
      cause: err,
      details: { file },
    })
  } finally {
    await rm(tmp, { force: true })
  }
}

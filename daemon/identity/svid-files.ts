/**
 * A local workload's SVID on disk: the certificate (leaf), its private key (0600) and optionally the
 * chain (leaf + intermediate) that TLS presents. Written all-or-nothing (certs' commitFiles: temp
 * files, fsync, rename), so a failed renewal leaves the previous SVID in place, whole.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { commitFiles, KEY_MODE, PUBLIC_MODE } from '../../certs/files.js'
import { type IssuedSvid, parseIp, readPrivateKey } from '../../certs/index.js'
import { LatchError } from '../base/errors.js'

export interface SvidFiles {
  /** The SVID (leaf certificate), PEM. */
  certFile: string
  /** Its private key, PKCS#8 PEM, mode 0600. */
  keyFile: string
  /** The SVID followed by the node intermediate, when the workload wants it on disk too. */
  chainFile?: string | undefined
}

export interface CurrentSvid {
  spiffeId: string | undefined
  /** IP SANs, canonical text. */
  ips: string[]
  notBefore: Date
  notAfter: Date
  certPem: string
  keyPem: string
}

/**
 * The SVID currently on disk, or undefined when it is missing or unusable (unparsable certificate,
 * unreadable key): the renewer then issues a new one. A key readable by others is an error
 * (LATCH_ERR_PKI_KEY_PERMISSIONS), never silently replaced: someone may have copied it.
 */
export async function readCurrentSvid(files: SvidFiles): Promise<CurrentSvid | undefined> {
  let certPem: string
  try {
    certPem = await readFile(files.certFile, 'utf8')
  } catch {
    return undefined
  }
  let cert: X509Certificate
  try {
    cert = new X509Certificate(certPem)
  } catch {
    return undefined
  }
  let keyPem: string
  try {
    keyPem = await readPrivateKey(files.keyFile)
  } catch (err) {
    if ((err as { code?: string }).code === 'LATCH_ERR_PKI_KEY_PERMISSIONS') throw err
    return undefined
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    return undefined
  }
  const names = (cert.subjectAltName ?? '').split(/,\s*/)
  const uri = names.find((n) => n.startsWith('URI:'))?.slice(4)
  const ips = names.filter((n) => n.startsWith('IP Address:')).map((n) => canonicalIp(n.slice(11)))
  return {
    spiffeId: uri,
    ips,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    certPem,
    keyPem,
  }
}

/** Write a new SVID's files all-or-nothing: key 0600, certificate and chain 0644. */
export async function writeSvidFiles(files: SvidFiles, svid: IssuedSvid): Promise<void> {
  // Create missing directories first (0700: they hold a key), race-free: commitFiles' own creation
  // is not safe against two renewals creating the same parent at once.
  for (const dir of new Set(
    [files.keyFile, files.certFile, files.chainFile].filter(isSet).map((f) => dirname(f)),
  )) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
    } catch (cause) {
      throw new LatchError('LATCH_ERR_PKI_WRITE_FAILED', `cannot create directory ${dir}`, { cause })
    }
  }
  await commitFiles([
    { path: files.keyFile, data: svid.keyPem, mode: KEY_MODE },
    { path: files.certFile, data: svid.certPem, mode: PUBLIC_MODE },
    ...(files.chainFile === undefined
      ? []
      : [{ path: files.chainFile, data: svid.chainPem, mode: PUBLIC_MODE }]),
  ])
}

function canonicalIp(text: string): string {
  try {
    return parseIp(text).toString()
  } catch {
    return text
  }
}

function isSet(s: string | undefined): s is string {
  return s !== undefined
}

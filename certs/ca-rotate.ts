/**
 * Root rotation without an outage (README "Rotating the root CA"):
 *
 *   1. `latchctl ca rotate`  — a new root key and certificate; ca/root.crt becomes the bundle
 *      [new root, old root], ca/root.key the new key (the old key is kept in ca/retired/, 0600).
 *      Distribute ca/root.crt to every node: each latchd hot-reloads it and now trusts both roots.
 *   2. `latchctl node issue NODE --force …` for every node — certificates and intermediates from the
 *      new root (the first of the bundle); each latchd takes its new files and re-handshakes
 *      make-before-break, and renews its workloads' SVIDs from the new intermediate.
 *   3. `latchctl ca retire` — ca/root.crt is the new root alone; refused while a node in the PKI
 *      directory still has a certificate from a retiring root. Distribute it again.
 *
 * Pure file logic over the PKI layout; no daemon involved.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { LatchError } from '../daemon/base/errors.js'
import { createRoot } from './ca.js'
import { commitFiles, KEY_MODE, PUBLIC_MODE } from './files.js'
import { readPrivateKey } from './keys.js'
import { caPaths, nodePaths } from './layout.js'
import { listNodes, readTrustDomain } from './state.js'
import { loadCertificates, toPem, type x509 } from './x509.js'

export interface RotateOptions {
  dir: string
  now?: Date
}

/** Create the next root and put it first in the bundle. Refused while a rotation is under way. */
export async function rotateCa(o: RotateOptions): Promise<{ files: string[]; serial: string }> {
  const trustDomain = await readTrustDomain(o.dir)
  const paths = caPaths(o.dir)
  const bundle = await loadCertificates(paths.cert)
  if (bundle.length > 1) {
    throw new LatchError(
      'LATCH_ERR_PKI_ROTATION',
      `${paths.cert} already holds ${bundle.length} roots: a rotation is under way; re-issue every node and run \`latchctl ca retire\` first`,
      { details: { file: paths.cert, roots: bundle.length } },
    )
  }
  const old = bundle[0] as x509.X509Certificate
  const oldKey = await readPrivateKey(paths.key)
  const now = o.now ?? new Date()
  const stamp = now.toISOString().replace(/[-:]/g, '').slice(0, 15)
  // its own name, so no certificate of one root can be mistaken for the other's by name
  const { cert, pem } = await createRoot(`latch root CA ${trustDomain} ${stamp}`, trustDomain, now)
  const retired = join(paths.dir, 'retired')
  await mkdir(retired, { recursive: true, mode: 0o700 })
  const files = await commitFiles([
    { path: join(retired, `root-${old.serialNumber}.key`), data: oldKey, mode: KEY_MODE },
    { path: join(retired, `root-${old.serialNumber}.crt`), data: toPem(old), mode: PUBLIC_MODE },
    { path: paths.key, data: pem, mode: KEY_MODE },
    { path: paths.cert, data: toPem(cert, old), mode: PUBLIC_MODE },
  ])
  return { files, serial: cert.serialNumber }
}

export interface RetireOptions {
  dir: string
  /** Retire even though some nodes still hold certificates of a retiring root (they will be refused). */
  force?: boolean
}

async function issuedBy(file: string, root: x509.X509Certificate): Promise<boolean> {
  const [c] = await loadCertificates(file)
  return (
    c !== undefined &&
    (await c.isSelfSigned()) === false &&
    (await c.verify({ publicKey: root.publicKey, signatureOnly: true }))
  )
}

/** Drop every root but the first (the newest) from the bundle. */
export async function retireCa(o: RetireOptions): Promise<{ files: string[]; retired: string[] }> {
  const paths = caPaths(o.dir)
  const bundle = await loadCertificates(paths.cert)
  if (bundle.length < 2) {
    throw new LatchError(
      'LATCH_ERR_PKI_ROTATION',
      `${paths.cert} holds one root: there is nothing to retire`,
      {
        details: { file: paths.cert },
      },
    )
  }
  const current = bundle[0] as x509.X509Certificate
  const stale: string[] = []
  for (const n of await listNodes(o.dir)) {
    const p = nodePaths(o.dir, n.node)
    for (const file of [p.cert, p.caCert]) {
      if (!(await issuedBy(file, current))) stale.push(`${n.node} (${file})`)
    }
  }
  if (stale.length > 0 && !o.force) {
    throw new LatchError(
      'LATCH_ERR_PKI_ROTATION',
      `not issued by the new root yet: ${stale.join(', ')}; re-issue them with \`latchctl node issue NODE --force …\` (or retire with --force and let them be refused)`,
      { details: { stale } },
    )
  }
  const files = await commitFiles([{ path: paths.cert, data: toPem(current), mode: PUBLIC_MODE }])
  return { files, retired: bundle.slice(1).map((c) => c.serialNumber) }
}

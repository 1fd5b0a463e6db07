/**
 * Renewing one local workload's SVID from the node intermediate: read the intermediate (its key's
 * permissions checked), issue a new SVID for the workload's ID and IPs, write key + certificate
 * (+ chain) all-or-nothing. A failure leaves the previous files as they were.
 */

import { BACKDATE_MS } from '../../certs/defaults.js'
import { type IssuedSvid, issueWorkloadFromIntermediate, loadPem, readPrivateKey } from '../../certs/index.js'
import { type SvidFiles, writeSvidFiles } from './svid-files.js'

/** The node's name-constrained intermediate CA, as files (config pki.intermediateCertFile/KeyFile). */
export interface NodeIntermediate {
  certFile: string
  keyFile: string
}

export interface LocalWorkload extends SvidFiles {
  id: string
  ips: readonly string[]
}

export interface RenewOptions {
  intermediate: NodeIntermediate
  workload: LocalWorkload
  /** The new SVID's lifetime (default: certs' LIFETIME.workload, 1 h). */
  ttl?: string | number | undefined
  now?: Date
}

export async function renewSvid(o: RenewOptions): Promise<IssuedSvid> {
  const intermediateCertPem = await loadPem(o.intermediate.certFile)
  const intermediateKeyPem = await readPrivateKey(o.intermediate.keyFile)
  const svid = await issueWorkloadFromIntermediate({
    intermediateCertPem,
    intermediateKeyPem,
    spiffeId: o.workload.id,
    ips: [...o.workload.ips],
    ...(o.ttl === undefined ? {} : { ttl: o.ttl }),
    ...(o.now === undefined ? {} : { now: o.now }),
  })
  await writeSvidFiles(o.workload, svid)
  return svid
}

/**
 * When an SVID valid from `notBefore` to `notAfter` is renewed: at half its lifetime counted from
 * when it was issued. latch backdates notBefore by BACKDATE_MS (clock skew), so the issue time is
 * notBefore + BACKDATE_MS; counting from notBefore instead would put the half-life of a short SVID
 * (ttl ≤ 2 min) at or before its issue, and the renewer would re-issue it on every tick.
 */
export function renewalTime(notBefore: Date, notAfter: Date): number {
  const end = notAfter.getTime()
  const issued = Math.min(notBefore.getTime() + BACKDATE_MS, end)
  return issued + Math.floor((end - issued) / 2)
}

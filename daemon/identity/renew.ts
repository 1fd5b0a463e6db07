/**
 * Renewing one local workload's SVID from the node intermediate: read the intermediate (its key's
 * permissions checked), issue a new SVID for the workload's ID and IPs, write key + certificate
 * (+ chain) all-or-nothing. A failure leaves the previous files as they were.
 */
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

/** When an SVID valid from `notBefore` to `notAfter` is renewed: at half its lifetime. */
export function renewalTime(notBefore: Date, notAfter: Date): number {
  return notBefore.getTime() + Math.floor((notAfter.getTime() - notBefore.getTime()) / 2)
}

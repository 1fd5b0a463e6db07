/** A local workload's SVID as latchd reports it (`latchctl identity list`, status `pairAuth.identities`). */

export interface SvidInfo {
  /** The workload's SPIFFE ID (the SVID's URI SAN). */
  id: string
  /** The workload's IP addresses, as configured (they are the SVID's IP SANs). */
  ips: string[]
  /** Where the SVID comes from: latchd renews it from the node intermediate, or it is managed elsewhere. */
  source: 'renewed' | 'files'
  /** NotAfter of the SVID presented now (ISO 8601). */
  notAfter?: string
  /** SHA-256 fingerprint of the SVID presented now (colon-separated hex, as node:crypto prints it). */
  fingerprint?: string
  /** The next renewal (renewed SVIDs only; ISO 8601). */
  renewAt?: string
  /** Why this workload presents no SVID (or its last renewal failed), if so. */
  problem?: string
}

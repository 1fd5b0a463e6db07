/** What pair authentication needs from the daemon, and what it returns. Field by field. */
import type { VerifyReason } from '../../certs/index.js'
import type { RevocationCheck } from '../../certs/verify.js'
import type { PairReason, PairRefusalBy } from './reasons.js'

/** The trust bundle: our root CA and trust domain. */
export interface TrustAnchor {
  rootPem: string
  trustDomain: string
  /** The revocation list: a revoked SVID (by SPIFFE ID or serial) is refused. Hot-reloaded. */
  revocations?: RevocationCheck | undefined
}

/**
 * What a peer node may speak for, learned from the node handshake: the workload CIDRs it proved
 * (checked there against its intermediate's name constraints). A remote SVID must lie inside them.
 */
export interface NodeConstraints {
  cidrs: readonly string[]
}

/** The part of the compiled policy pair auth asks (CompiledPolicy satisfies it). */
export interface PairPolicy {
  pairAllowed(a: string, b: string): boolean
}

/** Who we are in the handshake. */
export type PairRole = 'client' | 'server'

export interface PairSuccess {
  ok: true
  role: PairRole
  /** Our workload's SPIFFE ID (X for the client, Y for the server). */
  local: string
  /** The peer workload's SPIFFE ID, as its verified SVID says. */
  remote: string
  /** The peer node the remote workload runs on. */
  remoteNode: string
  /** The IP SANs of the remote SVID: the only source of ipcache entries for it. */
  remoteIps: string[]
  /** The auth entry's expiry: min of both certificates' paths and both sides' now + TTL. */
  expiresAt: Date
  durationMs: number
}

export interface PairFailure {
  ok: false
  role: PairRole
  /** Our workload, when known (the client always knows; the server after reading the SNI). */
  local: string | undefined
  /** The peer workload, when known (verified, or asked for by the client). */
  remote: string | undefined
  remoteNode: string | undefined
  reason: PairReason
  message: string
  by: PairRefusalBy
  /** verify()'s reason when a certificate check failed here. */
  certReason?: VerifyReason
  durationMs: number
}

export type PairOutcome = PairSuccess | PairFailure

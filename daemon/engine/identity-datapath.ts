/**
 * The port between identity-pair authentication (daemon/pairauth, driven by the daemon) and the
 * eBPF datapath (daemon/datapath, driven by the engine). SPIFFE IDs on this side; the small integer
 * identity ids the maps use are allocated behind it and never leave the node.
 *
 * Writers call it only with facts that were authenticated: remote IPs come from the IP SANs of the
 * SVID that just authenticated (or, before pair authentication, from a node-handshake inventory that
 * was checked against the peer node's name constraints).
 */
import type { CompiledPolicy } from '../policy/compiled.js'

import type { ProvenPair } from './datapath-desired.js'

export type { ProvenPair }

export interface AuthRequiredEvent {
  /** the local or remote identity the packet came from, when the ipcache knows it */
  src?: string
  /** the mesh workload the packet was for */
  dst?: string
  /**
   * The source has no identity on this node (drop_unknown_source) and the packet arrived through
   * the tunnel: a remote workload whose pair is not authenticated yet. The listener resolves srcIp
   * from the checked inventory of the peer node whose workload CIDRs hold it.
   */
  viaTunnel?: boolean
  srcIp: string
  dstIp: string
  /** IP protocol number (6 TCP, 17 UDP, 1 ICMP, …) */
  proto: number
  dport?: number
}

export interface AuthPairEntry {
  src: string
  dst: string
  expiresAt: Date
}

export interface IdentityDatapath {
  /**
   * The whole set of pairs pair authentication holds authenticated (replaces the previous set). The
   * datapath derives the entries: each remote identity's ipcache entries are the union of the IPs its
   * pairs' SVIDs proved (arriving through the WireGuard interface), and each pair has auth entries
   * both ways until its expiry (the latest when several pairs hold the same entry). A pair that
   * leaves the set loses its entries, and a remote identity no pair proves any more its ipcache.
   */
  setProvenPairs(pairs: readonly ProvenPair[]): Promise<void>
  /** Delete auth[(src, dst)] at once unless a proven pair holds it (entries written by hand, adopted at start). */
  revoke(src: string, dst: string): Promise<void>
  listAuth(): Promise<AuthPairEntry[]>
  /**
   * The rules the kernel enforces (the policy map): what each source may open to each destination.
   * Idempotent; rules of identities without an id yet are written once the identity appears.
   */
  setPolicy(policy: CompiledPolicy): Promise<void>
  /** Subscribe to auth-required events from the ring buffer; returns an unsubscribe function. */
  onAuthRequired(listener: (event: AuthRequiredEvent) => void): () => void
}

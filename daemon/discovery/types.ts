/**
 * The one discovery interface latchd consumes, whichever backend feeds it: a start that yields the
 * first peer list, later lists through `onChange` (the mesh applies each through the same diff), and
 * a status section for `latchctl status`.
 */
import type { LatchError } from '../errors.js'
import type { PeerEntry } from './peers-file.js'

export interface DiscoveryCallbacks {
  /** A new peer list (not called for the list `start()` returns). */
  onChange: (peers: readonly PeerEntry[]) => void
  /** Something was rejected or failed; the previous peers stay in force. */
  onError: (err: LatchError) => void
}

export interface Discovery {
  readonly backend: 'file' | 'etcd'
  /** The first peer list. Throws only for what the operator must fix (a bad file, unreadable TLS files). */
  start(): Promise<readonly PeerEntry[]>
  readonly peers: readonly PeerEntry[]
  status(): DiscoveryStatus
  stop(): void | Promise<void>
}

/** `latchctl status` → discovery (JSON: times ISO 8601). */
export type DiscoveryStatus =
  | { backend: 'file'; file: string; peers: number }
  | {
      backend: 'etcd'
      endpoints: string[]
      prefix: string
      /** The watch stream is up and the view is current. */
      connected: boolean
      /** This node's own record is written under a live lease. */
      registered: boolean
      leaseTtlSeconds: number
      /** The etcd revision the view is at. */
      revision?: string
      lastSyncAt?: string
      /** Full listings since start (the first, and one after each compaction or lost watch). */
      resyncs: number
      /** Valid registrations of other nodes. */
      records: number
      /** Registrations that went away, still peers until their grace period ends. */
      departing: Array<{ name: string; until: string }>
      /** Values under the prefix that are not a valid registration, with what is wrong. */
      rejected: Array<{ key: string; problem: string; at: string }>
      lastError?: { message: string; at: string }
    }

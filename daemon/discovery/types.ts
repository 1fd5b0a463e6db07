/**
 * The one discovery interface latchd consumes, whichever backend feeds it: a start that yields the
 * first peer list, later lists through `onChange` (the mesh applies each through the same diff), and
 * a status section for `latchctl status`.
 */
import type { LatchError } from '../base/errors.js'
import type { DiscoveryStatus } from '../wire/status.js'
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
  /** Re-read now (SIGHUP) where the backend has something to re-read (the peers file). */
  reload?(): Promise<void>
  stop(): void | Promise<void>
}

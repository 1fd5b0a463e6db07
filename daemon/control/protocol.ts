/**
 * The local control protocol of latchd, on a unix socket (mode 0600, default /run/latch/latchd.sock).
 * Plain on purpose, like wireguard-go's UAPI: one JSON object per line each way.
 *
 *   request:   {"cmd":"status"}\n
 *   response:  {"ok":true,"status":{…StatusReport…}}\n
 *   error:     {"ok":false,"error":{"code":"LATCH_ERR_…","message":"…"}}\n
 *
 * Commands: `status` (the StatusReport below), `ping` (→ {"ok":true,"pong":true}), and the
 * datapath's auth_add / auth_del / auth_list / monitor (datapath-protocol.ts), and runtime
 * workload registration: workload_add / workload_remove / workload_list (workload-protocol.ts).
 * A connection may carry several requests; answers come in order. Lines above 64 KiB end it.
 * Try it by hand: `echo '{"cmd":"status"}' | socat - UNIX-CONNECT:/run/latch/latchd.sock`.
 */

import { z } from 'zod'
import type { DiscoveryStatus } from '../discovery/types.js'
import type { DatapathReport } from '../engine/datapath-report.js'
import { type DatapathResponse, datapathRequestSchemas } from './datapath-protocol.js'
import { type WorkloadResponse, workloadRequestSchemas } from './workload-protocol.js'

export const MAX_LINE_BYTES = 64 * 1024
export const DEFAULT_CONTROL_SOCKET = '/run/latch/latchd.sock'

export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('status') }).strict(),
  z.object({ cmd: z.literal('ping') }).strict(),
  ...datapathRequestSchemas,
  ...workloadRequestSchemas,
])
export type ControlRequest = z.infer<typeof requestSchema>

export interface ControlError {
  code: string
  message: string
}

/** A refusal or failure as status shows it. */
export interface StatusRefusal {
  reason: string
  message: string
  by: 'local' | 'peer' | 'transport'
  at: string
  /** The other end never proved its identity: the name is what it claimed or who we dialed. */
  unverified?: boolean
}

export interface StatusPeer {
  name: string
  /** Where its handshake listener is (from the peers file). */
  address: string
  port: number
  /** The certificate fingerprint its etcd registration names; the handshake refuses any other. */
  fingerprint?: string
  /** dialer: this node dials and drives re-handshakes; acceptor: the peer does. */
  role: 'dialer' | 'acceptor'
  state: 'connecting' | 'established' | 'backoff' | 'refused' | 'awaiting' | 'stopped'
  /** up: WireGuard peer programmed; grace: control connection lost, tunnel kept until graceUntil; down. */
  tunnel: 'up' | 'grace' | 'down'
  lastHandshakeAt?: string
  /** Seconds since the current PSK was derived. */
  pskAgeSeconds?: number
  rotations: number
  /** The peer's WireGuard endpoint, tunnel address, key and workload CIDRs (from its checked hello). */
  endpoint?: string
  tunnelAddress?: string
  wgPublicKey?: string
  workloadCidrs?: string[]
  workloads?: Array<{ id: string; ips: string[] }>
  refusal?: StatusRefusal
  lastError?: StatusRefusal
  nextAttemptAt?: string
  graceUntil?: string
  /** WireGuard counters for this peer, when WireGuard has it. */
  wireguard?: { rxBytes: number; txBytes: number; latestHandshake?: string; hasPresharedKey: boolean }
}

/** A pair authentication that did not succeed, as status shows it (the most recent first). */
export interface StatusPairFailure {
  at: string
  local?: string
  remote?: string
  node?: string
  /** client: this node dialed; server: the peer dialed this node. */
  role: 'client' | 'server'
  reason: string
  by: 'local' | 'peer' | 'transport'
  message: string
  certReason?: string
}

/** Identity-pair authentication (DESIGN §5): policy, local identities, pairs and auth entries. */
export interface PairAuthStatus {
  /** The pair-auth listener's port on the tunnel address. */
  port: number
  ttlSeconds: number
  policy: {
    file: string
    /** sha256 of the running policy's rules. */
    digest: string
    allowedPairs: number
    /** Why the file on disk is not the running policy (it was rejected; the running one stays). */
    error?: {
      code: string
      message: string
      file?: string
      problems?: Array<{ line: number; col: number; message: string }>
    }
  }
  identities: Array<{
    id: string
    ips: string[]
    source: 'renewed' | 'files'
    notAfter?: string
    fingerprint?: string
    renewAt?: string
    problem?: string
  }>
  /** Every planned pair (local workload, remote workload, remote node). */
  pairs: Array<{
    local: string
    remote: string
    node: string
    /** This node dials (the peer only as a fallback). */
    initiator: boolean
    state: 'authenticated' | 'authenticating' | 'pending'
    expiresAt?: string
    remoteIps?: string[]
    failures: number
    lastReason?: string
  }>
  /** The datapath's auth entries (src → dst until expiresAt). */
  authEntries: Array<{ src: string; dst: string; expiresAt: string }>
  authEntriesError?: string
  recentFailures: StatusPairFailure[]
}

export interface StatusReport {
  node: string
  trustDomain: string
  spiffeId: string
  pid: number
  startedAt: string
  uptimeSeconds: number
  listen: string
  rekeyIntervalSeconds: number
  gracePeriodSeconds: number
  wireguard: {
    interface: string
    publicKey: string
    listenPort: number
    address: string
    /** Set when WireGuard could not be read (the error message). */
    error?: string
    /** WireGuard peers latch does not manage (not matched to a peer of the peers file). */
    unmanagedPeers: Array<{ publicKey: string; endpoint?: string; rxBytes: number; txBytes: number }>
  }
  peers: StatusPeer[]
  workloads: Array<{ id: string; ips: string[]; interface?: string }>
  /** The eBPF datapath (pins, attached interfaces, counters); absent with datapath.enabled: false. */
  datapath?: DatapathReport
  /** Absent when latchd runs without a policy file (no pair authentication). */
  pairAuth?: PairAuthStatus
  /** Where the peers come from: the peers file, or etcd (connection, registration, rejected records). */
  discovery?: DiscoveryStatus
}

export type ControlResponse =
  | { ok: true; status: StatusReport }
  | { ok: true; pong: true }
  | DatapathResponse
  | WorkloadResponse
  | { ok: false; error: ControlError }

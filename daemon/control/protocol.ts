/**
 * The local control protocol of latchd, on a unix socket (mode 0600, default /run/latch/latchd.sock).
 * Plain on purpose, like wireguard-go's UAPI: one JSON object per line each way.
 *
 *   request:   {"cmd":"status"}\n
 *   response:  {"ok":true,"status":{…StatusReport…}}\n
 *   error:     {"ok":false,"error":{"code":"LATCH_ERR_…","message":"…"}}\n
 *
 * Commands: `status` (the StatusReport below), `ping` (→ {"ok":true,"pong":true}).
 * A connection may carry several requests; answers come in order. Lines above 64 KiB end it.
 * Try it by hand: `echo '{"cmd":"status"}' | socat - UNIX-CONNECT:/run/latch/latchd.sock`.
 */
import { z } from 'zod'

export const MAX_LINE_BYTES = 64 * 1024
export const DEFAULT_CONTROL_SOCKET = '/run/latch/latchd.sock'

export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('status') }).strict(),
  z.object({ cmd: z.literal('ping') }).strict(),
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
}

export type ControlResponse =
  | { ok: true; status: StatusReport }
  | { ok: true; pong: true }
  | { ok: false; error: ControlError }

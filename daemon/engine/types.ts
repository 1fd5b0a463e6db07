import type { Logger } from 'pino'
import type { NetlinkPort } from '../transport/netlink-port.js'
import type { CommandRunner } from '../transport/runner.js'
import type { WireguardOptions } from '../transport/wireguard.js'
import type { XfrmPort } from '../transport/xfrm/port.js'

/**
 * One authenticated peer node, as the handshake hands it to the engine. Everything here is the
 * outcome of a completed mutual TLS 1.3 handshake: the engine trusts it and programs it as is.
 */
export interface PeerSession {
  /** The peer node's name (unique key of the session; `upsertPeer` with the same name replaces). */
  name: string
  /** The peer's WireGuard public key, base64 (44 chars). */
  wgPublicKey: string
  /** The pair's preshared key (TLS exporter value), base64. Never logged, never on a command line. */
  presharedKey: string
  /** Where the peer's WireGuard listens, `ip:port` (`[v6]:port` for IPv6). */
  endpoint: string
  /** The peer's tunnel address as a CIDR, e.g. `10.101.0.2/32`. */
  tunnelAddress: string
  /** The peer's workload CIDRs (already checked against its name-constrained intermediate). */
  workloadCidrs: string[]
  /** When the handshake that produced this session completed. */
  establishedAt: Date
}

/**
 * What a peer node's checked inventory says, as the engine's inventory sync reads it: which remote
 * workloads (SPIFFE ID → IPs) are behind the peer, and whether its tunnel is still there.
 */
export interface PeerInventory {
  /** The peer's tunnel: up, grace (control connection lost, tunnel kept) or down (entries go). */
  tunnel: 'up' | 'grace' | 'down'
  /** The workloads the peer hosts (checked against its name constraints when they arrived). */
  workloads?: ReadonlyArray<{ id: string; ips: readonly string[] }>
}

/** `transport: ipsec`: ESP through an XFRM interface instead of WireGuard. */
export interface IpsecEngineOptions {
  interface: string
  ifId: number
  /** This node's underlay address (listen.address): outer source of its SAs. */
  underlay: string
  /** Make-before-break steps after a re-handshake (defaults: 2 s and 6 s, times LATCH_TIME_SCALE). */
  switchAfterMs?: number
  retireAfterMs?: number
  /** XFRM netlink (default: a NETLINK_XFRM socket). Tests pass a recording port. */
  xfrm?: XfrmPort
}

export interface EngineOptions {
  wireguard: WireguardOptions
  /** Present: the IPsec transport carries the mesh (wireguard.address and privateKeyFile still apply). */
  ipsec?: IpsecEngineOptions
  logger: Logger
  /** How processes are run (default: ProcessRunner). Tests pass a recording runner. */
  runner?: CommandRunner
  /** How links/addresses/routes are changed (default: rtnetlink). Tests pass a recording port. */
  netlink?: NetlinkPort
  /** How long upsertPeer/removePeer calls are gathered before one reconcile runs (default 5 ms). */
  coalesceMs?: number
  /**
   * After adopting an interface (daemon restart), how long its existing peers are kept untouched
   * while waiting for a handshake to claim them (default 60 s); unclaimed ones are then removed.
   */
  adoptGraceMs?: number
}

export interface ReconcileResult {
  /** false when the kernel already matched the desired state and nothing was run. */
  changed: boolean
  /** Human-readable list of what was done, e.g. `peer add node2`, `route del 10.100.3.0/24` (no keys). */
  actions: string[]
}

export interface PeerStatus {
  /** The session name, when the peer is one the engine programmed. */
  name?: string
  publicKey: string
  endpoint?: string
  latestHandshake?: Date
  rxBytes: number
  txBytes: number
  hasPresharedKey: boolean
}

export interface EngineStatus {
  interface: string
  /** What carries the tunnel: the WireGuard kernel module, wireguard-go, or ESP through XFRM. */
  backend: 'kernel' | 'userspace' | 'ipsec'
  publicKey: string
  peers: PeerStatus[]
}

export interface Engine {
  /** Ensure key file, interface (adopting an existing one), address and link up. */
  start(): Promise<{ publicKey: string; adopted: boolean }>
  /** Add or replace a peer. Coalesced: many calls become ONE device write (UAPI set or `wg set`) per reconcile. */
  upsertPeer(s: PeerSession): void
  /** Remove a peer (its WireGuard peer and its routes). Coalesced like upsertPeer. */
  removePeer(name: string): void
  /** Wait for the pending reconcile (runs one now if changes are queued) and return its result. */
  flush(): Promise<ReconcileResult>
  /** Read `wg show <if> dump`; never returns a preshared key. */
  status(): Promise<EngineStatus>
  /** Stop reconciling. Leaves interface and peers in place for re-adoption by the next daemon. */
  stop(): Promise<void>
}

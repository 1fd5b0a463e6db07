/**
 * The status report (wire/status.ts) from the daemon's parts: node/ hands control/ a finished
 * report. Pure: config, mesh snapshot and WireGuard status in, a JSON-ready StatusReport out.
 * WireGuard peers are matched to mesh peers by public key; a peer crosses from its node shape
 * (PeerSnapshot) to its wire shape (StatusPeer) in statusPeerOf.
 */

import { formatEndpoint } from '../config/net.js'
import type { Config } from '../config/schema.js'
import type { EngineStatus, PeerStatus } from '../engine/index.js'
import type {
  DiscoveryStatus,
  PairAuthStatus,
  StatusPeer,
  StatusRefusal,
  StatusReport,
} from '../wire/status.js'
import type { PeerSnapshot } from './peer.js'

export interface StatusInputs {
  config: Config
  spiffeId: string
  wgPublicKey: string
  startedAt: Date
  /** Start-up has finished (StatusReport.ready). */
  ready: boolean
  now: Date
  peers: PeerSnapshot[]
  /** engine.status(), or the error it threw */
  wireguard: EngineStatus | Error
  /** Identity-pair authentication, when latchd runs it (a policy file is configured). */
  pairAuth?: PairAuthStatus
  discovery?: DiscoveryStatus
  /** The local workloads (config and registered); default: the config's. */
  workloads?: ReadonlyArray<{ id: string; ips: readonly string[]; interface?: string | undefined }>
}

function refusal(r: PeerSnapshot['refusal'] | PeerSnapshot['lastError']): StatusRefusal | undefined {
  if (!r) return undefined
  return {
    reason: r.reason,
    message: r.message,
    by: r.by,
    at: r.at.toISOString(),
    ...('unverified' in r && r.unverified ? { unverified: true } : {}),
  }
}

export function buildStatus(i: StatusInputs): StatusReport {
  const wg = i.wireguard instanceof Error ? undefined : i.wireguard
  const byKey = new Map((wg?.peers ?? []).map((p) => [p.publicKey, p]))
  const matched = new Set<string>()
  const peers: StatusPeer[] = i.peers.map((p) => {
    const w = p.wgPublicKey ? byKey.get(p.wgPublicKey) : undefined
    if (w) matched.add(w.publicKey)
    return statusPeerOf(p, w, i.now)
  })
  const c = i.config
  return {
    node: c.node,
    trustDomain: c.trustDomain,
    spiffeId: i.spiffeId,
    pid: process.pid,
    startedAt: i.startedAt.toISOString(),
    uptimeSeconds: Math.round((i.now.getTime() - i.startedAt.getTime()) / 1000),
    ready: i.ready,
    listen: formatEndpoint(c.listen.address, c.listen.port),
    rekeyIntervalSeconds: c.rekeyInterval / 1000,
    gracePeriodSeconds: c.peerGracePeriod / 1000,
    transport: {
      kind: c.transport,
      interface: c.transport === 'ipsec' ? c.ipsec.interface : c.wireguard.interface,
      ...(wg && { backend: wg.backend }),
      ...(c.transport === 'ipsec' && { ifId: c.ipsec.ifId }),
    },
    wireguard: {
      interface: c.wireguard.interface,
      publicKey: wg?.publicKey ?? i.wgPublicKey,
      listenPort: c.wireguard.listenPort,
      address: c.wireguard.address,
      ...(i.wireguard instanceof Error && { error: i.wireguard.message }),
      unmanagedPeers: (wg?.peers ?? [])
        .filter((p) => !matched.has(p.publicKey))
        .map((p) => ({
          publicKey: p.publicKey,
          ...(p.endpoint && { endpoint: p.endpoint }),
          rxBytes: p.rxBytes,
          txBytes: p.txBytes,
        })),
    },
    peers,
    workloads: (i.workloads ?? c.workloads).map((w) => ({
      id: w.id,
      ips: [...w.ips],
      ...(w.interface && { interface: w.interface }),
    })),
    ...(i.pairAuth && { pairAuth: i.pairAuth }),
    ...(i.discovery && { discovery: i.discovery }),
  }
}

/** A peer as status shows it: its node state, and WireGuard's counters when WireGuard has it. */
export function statusPeerOf(p: PeerSnapshot, w: PeerStatus | undefined, now: Date): StatusPeer {
  const ref = refusal(p.refusal)
  const err = refusal(p.lastError)
  return {
    name: p.name,
    address: p.address,
    port: p.port,
    ...(p.fingerprint !== undefined && { fingerprint: p.fingerprint }),
    role: p.role,
    state: p.state,
    tunnel: p.tunnel,
    rotations: p.rotations,
    ...(p.lastHandshakeAt && {
      lastHandshakeAt: p.lastHandshakeAt.toISOString(),
      pskAgeSeconds: Math.max(0, Math.round((now.getTime() - p.lastHandshakeAt.getTime()) / 1000)),
    }),
    ...(p.endpoint && { endpoint: p.endpoint }),
    ...(p.tunnelAddress && { tunnelAddress: p.tunnelAddress }),
    ...(p.wgPublicKey && { wgPublicKey: p.wgPublicKey }),
    ...(p.workloadCidrs && { workloadCidrs: p.workloadCidrs }),
    ...(p.workloads && { workloads: p.workloads }),
    ...(ref && { refusal: ref }),
    ...(err && { lastError: err }),
    ...(p.nextAttemptAt && { nextAttemptAt: p.nextAttemptAt.toISOString() }),
    ...(p.graceUntil && { graceUntil: p.graceUntil.toISOString() }),
    ...(w && {
      wireguard: {
        rxBytes: w.rxBytes,
        txBytes: w.txBytes,
        hasPresharedKey: w.hasPresharedKey,
        ...(w.latestHandshake && { latestHandshake: w.latestHandshake.toISOString() }),
      },
    }),
  }
}

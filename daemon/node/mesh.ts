/**
 * The mesh of this node: one PeerController per entry of the peers file, inbound handshakes routed
 * to their controller, peers-file changes applied (added peers start, removed peers lose their
 * tunnel, moved peers are re-dialed), every peer event logged and counted. Snapshot for status.
 */
import type { Logger } from 'pino'
import { Backoff, type BackoffPolicy, DEFAULT_BACKOFF } from '../base/backoff.js'
import type { Clock } from '../base/clock.js'
import type { PeerEntry } from '../discovery/peers-file.js'
import { diffPeers } from '../discovery/peers-file.js'
import { checkInventory } from '../handshake/check-peer.js'
import type { DialTarget } from '../handshake/client.js'
import type { HandshakeOutcome, NodeSession } from '../handshake/types.js'
import type { DaemonMetrics } from '../observe/metrics.js'
import { PeerController, type PeerDeps, type PeerEvent, type PeerSnapshot } from './peer.js'
import { roleFor } from './roles.js'

export interface MeshOptions {
  self: string
  trustDomain: string
  dial: (target: DialTarget) => Promise<HandshakeOutcome>
  engine: PeerDeps['engine']
  clock: Clock
  rekeyIntervalMs: number
  gracePeriodMs: number
  logger: Logger
  metrics?: DaemonMetrics
  backoff?: BackoffPolicy
  random?: () => number
  /** A session was established, lost or its inventory changed (pair authentication re-plans). */
  onSessionsChanged?: () => void
  /** This node's inventory now (sent on every new session; see setInventory for changes). */
  inventory?: () => NodeSession['peer']['workloads']
}

export class Mesh {
  readonly #peers = new Map<string, PeerController>()
  readonly #o: MeshOptions
  #stopped = false

  constructor(o: MeshOptions) {
    this.#o = o
  }

  /** Whether `node` is in the peers file (the handshake server refuses others). */
  has(node: string): boolean {
    return this.#peers.has(node)
  }

  /** The certificate fingerprint `node`'s registration names (etcd discovery); the handshake checks it. */
  registeredFingerprint(node: string): string | undefined {
    return this.#peers.get(node)?.fingerprint
  }

  /** Apply a (new) peers list: start added peers, stop removed ones, re-dial moved ones. */
  setPeers(entries: readonly PeerEntry[]): void {
    if (this.#stopped) return
    const current = [...this.#peers.values()].map((c) => c.snapshot())
    const d = diffPeers(current, entries)
    for (const p of d.removed) {
      this.#o.logger.info({ event: 'peer_removed', peer: p.name }, `peer ${p.name} left the peers file`)
      this.#peers.get(p.name)?.stop(true)
      this.#peers.delete(p.name)
    }
    for (const p of d.changed) {
      this.#o.logger.info(
        { event: 'peer_moved', peer: p.name, address: p.address, port: p.port },
        `peer ${p.name} moved to ${p.address}:${p.port}`,
      )
      this.#peers.get(p.name)?.updateEntry(p)
    }
    for (const p of d.added) {
      const c = new PeerController(p, roleFor(this.#o.self, p.name), this.#deps())
      this.#peers.set(p.name, c)
      this.#o.logger.info(
        { event: 'peer_added', peer: p.name, address: p.address, port: p.port, role: c.role },
        `peer ${p.name} at ${p.address}:${p.port} (${c.role === 'dialer' ? 'this node dials' : 'it dials this node'})`,
      )
      c.start()
    }
  }

  /** An inbound handshake finished on the listener. */
  inbound(outcome: HandshakeOutcome): void {
    const name = outcome.ok ? outcome.session.peer.node : outcome.peer
    const c = name === undefined ? undefined : this.#peers.get(name)
    if (c) {
      c.inbound(outcome)
      return
    }
    if (outcome.ok) {
      // the server only completes sessions with known peers; one removed meanwhile is closed
      outcome.session.channel.close('not in the peers file')
      return
    }
    this.#event({
      kind: 'refused',
      peer: name ?? '(unknown)',
      role: outcome.role,
      refusal: outcome.refusal,
      unverified: outcome.peerUnverified,
      durationMs: outcome.durationMs,
    })
  }

  /** Re-authenticate every peer (new credentials or trust bundle), make-before-break. */
  rehandshakeAll(why: string): void {
    if (this.#stopped) return
    for (const c of this.#peers.values()) c.rehandshake(why)
  }

  /**
   * Cut the peers a (new) revocation list names — by node name, node SPIFFE ID or the serial of the
   * certificate they authenticated with. Returns the names of the peers cut.
   */
  applyRevocations(
    revoked: (peer: { node: string; spiffeId: string; serial: string | undefined }) => string | undefined,
  ): string[] {
    const cut: string[] = []
    for (const c of this.#peers.values()) {
      const why = revoked({
        node: c.name,
        spiffeId: `spiffe://${this.#o.trustDomain}/latch/node/${c.name}`,
        serial: c.certSerial,
      })
      if (why === undefined) continue
      c.revoke(why)
      cut.push(c.name)
    }
    return cut
  }

  snapshot(): PeerSnapshot[] {
    return [...this.#peers.values()].map((c) => c.snapshot()).sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  stateCounts(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const c of this.#peers.values()) counts[c.state] = (counts[c.state] ?? 0) + 1
    return counts
  }

  /** This node's workloads changed: tell every peer with a live session (new sessions get it too). */
  announceInventory(workloads: NodeSession['peer']['workloads']): void {
    for (const c of this.#peers.values()) c.sendInventory(workloads)
  }

  /** Stop every peer; tunnels stay in place for the next daemon unless `removeTunnels`. */
  stop(removeTunnels = false): void {
    this.#stopped = true
    for (const c of this.#peers.values()) c.stop(removeTunnels)
  }

  #deps(): PeerDeps {
    return {
      dial: this.#o.dial,
      engine: this.#o.engine,
      clock: this.#o.clock,
      backoff: new Backoff(this.#o.backoff ?? DEFAULT_BACKOFF, this.#o.random),
      rekeyIntervalMs: this.#o.rekeyIntervalMs,
      gracePeriodMs: this.#o.gracePeriodMs,
      checkInventory: (session: NodeSession, workloads) => {
        const v = checkInventory(workloads, session.peer.workloadCidrs, this.#o.trustDomain)
        return v.ok ? undefined : v.message
      },
      ...(this.#o.inventory && { inventory: this.#o.inventory }),
      report: (e) => this.#event(e),
    }
  }

  #event(e: PeerEvent): void {
    if (
      e.kind === 'established' ||
      e.kind === 'lost' ||
      e.kind === 'tunnel_removed' ||
      e.kind === 'inventory'
    )
      this.#o.onSessionsChanged?.()
    const log = this.#o.logger
    const m = this.#o.metrics
    switch (e.kind) {
      case 'established':
        m?.handshakeDone(e.role, 'ok', '', e.durationMs / 1000)
        log.info(
          {
            event: 'handshake_ok',
            peer: e.peer,
            role: e.role,
            rotation: e.rotation,
            durationMs: e.durationMs,
          },
          `${e.rotation ? 'rotated the PSK with' : 'session established with'} ${e.peer}`,
        )
        break
      case 'refused':
        m?.handshakeDone(e.role, 'refused', e.refusal.reason)
        log.warn(
          {
            event: 'handshake_refused',
            peer: e.peer,
            role: e.role,
            reason: e.refusal.reason,
            by: e.refusal.by,
            unverified: e.unverified,
          },
          `${e.refusal.by === 'peer' ? `${e.peer} refused us` : `refused ${e.unverified ? `a peer claiming to be ${e.peer}` : e.peer}`}: ${e.refusal.reason}: ${e.refusal.message}`,
        )
        break
      case 'failed':
        m?.handshakeDone('client', 'refused', e.refusal.reason)
        log.info(
          { event: 'handshake_failed', peer: e.peer, reason: e.refusal.reason, retryInMs: e.retryInMs },
          `no session with ${e.peer}: ${e.refusal.reason}: ${e.refusal.message}; retrying in ${e.retryInMs} ms`,
        )
        break
      case 'lost':
        log.warn(
          { event: 'connection_lost', peer: e.peer, why: e.why, planned: e.planned, graceMs: e.graceMs },
          `control connection to ${e.peer} lost (${e.why}); the tunnel stays for ${e.graceMs} ms`,
        )
        break
      case 'tunnel_removed':
        log.warn(
          { event: 'tunnel_removed', peer: e.peer, why: e.why },
          `removed the tunnel to ${e.peer}: ${e.why}`,
        )
        break
      case 'inventory':
        log.info(
          { event: 'inventory', peer: e.peer, workloads: e.workloads },
          `inventory update from ${e.peer}`,
        )
        break
      case 'inventory_rejected':
        log.warn(
          { event: 'inventory_rejected', peer: e.peer },
          `ignored an inventory from ${e.peer}: ${e.message}`,
        )
        break
    }
  }
}

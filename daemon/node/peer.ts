/**
 * The state machine of one peer node.
 *
 *   dialer:   connecting ──ok──▶ established ──rekey timer──▶ (dial again; new session replaces old)
 *                 │  ▲               │ lost                         │ refused
 *          fail   ▼  │ backoff       ▼                              ▼
 *               backoff/refused ◀── connecting (tunnel kept for the grace period)
 *   acceptor: awaiting ──inbound ok──▶ established ──lost──▶ awaiting (tunnel kept for the grace period)
 *
 * The tunnel (the engine's WireGuard peer) follows the session, with two rules:
 *  - Losing only the TLS control connection does not cut traffic: the WireGuard peer keeps its PSK
 *    for `gracePeriodMs` (a restarting daemon comes back well within it); then it is removed.
 *  - An authenticated refusal (the peer is who it says, but its claims or certificate are not
 *    acceptable now) removes the tunnel at once. A refusal we can only attribute to a peer by an
 *    unverified certificate is recorded for the operator but never touches an existing tunnel:
 *    anyone who can reach the port could otherwise cut a pair's traffic. The same holds for a
 *    discovery record that disagrees with the certificate the peer proves (registration_mismatch).
 *
 * PSK rotation is make-before-break: the new session is handed to the engine (`upsertPeer` with the
 * new PSK) before the old control connection is closed. WireGuard mixes the PSK only into its next
 * Noise handshake; the current session keys stay, so traffic never stops. Both daemons swap within
 * one round trip; a WireGuard handshake that falls into that window fails once and is retried by
 * WireGuard after REKEY_TIMEOUT (5 s) while the current keypair (valid up to 180 s) carries traffic.
 */

import type { Backoff } from '../base/backoff.js'
import type { Clock, TimerHandle } from '../base/clock.js'
import type { PeerEntry } from '../discovery/peers-file.js'
import type { PeerSession } from '../engine/index.js'
import type { DialTarget } from '../handshake/client.js'
import type { Refusal } from '../handshake/reasons.js'
import type { HandshakeOutcome, NodeSession } from '../handshake/types.js'
import type { PeerRole } from './roles.js'

export type PeerState = 'connecting' | 'established' | 'backoff' | 'refused' | 'awaiting' | 'stopped'
export type TunnelState = 'up' | 'grace' | 'down'

export type PeerEvent =
  | { kind: 'established'; peer: string; role: 'client' | 'server'; rotation: boolean; durationMs: number }
  | {
      kind: 'refused'
      peer: string
      role: 'client' | 'server'
      refusal: Refusal
      unverified: boolean
      durationMs: number
    }
  | { kind: 'failed'; peer: string; refusal: Refusal; retryInMs: number }
  | { kind: 'lost'; peer: string; why: string; planned: boolean; graceMs: number }
  | { kind: 'tunnel_removed'; peer: string; why: string }
  | { kind: 'inventory'; peer: string; workloads: number }
  | { kind: 'inventory_rejected'; peer: string; message: string }

export interface PeerDeps {
  dial: (target: DialTarget) => Promise<HandshakeOutcome>
  engine: { upsertPeer(s: PeerSession): void; removePeer(name: string): void }
  clock: Clock
  backoff: Backoff
  rekeyIntervalMs: number
  gracePeriodMs: number
  /** Checks an inventory update against the session's CIDRs (handshake's checkInventory). */
  checkInventory: (session: NodeSession, workloads: NodeSession['peer']['workloads']) => string | undefined
  /**
   * This node's inventory now: sent on every new session right after it is established, because the
   * hello may have been written before the last change (a workload registered mid-handshake).
   */
  inventory?: () => NodeSession['peer']['workloads']
  report: (e: PeerEvent) => void
}

export interface PeerSnapshot {
  name: string
  address: string
  port: number
  /** The certificate fingerprint discovery registered for it (etcd), checked by the handshake. */
  fingerprint?: string
  role: PeerRole
  state: PeerState
  tunnel: TunnelState
  /** When the current PSK was derived (the last completed handshake). */
  lastHandshakeAt?: Date
  rotations: number
  endpoint?: string
  tunnelAddress?: string
  wgPublicKey?: string
  workloadCidrs?: string[]
  workloads?: Array<{ id: string; ips: string[] }>
  /** Why the last attempt was refused (cleared by the next success). */
  refusal?: Refusal & { at: Date; unverified: boolean }
  /** The last transport failure (unreachable, timeout…), cleared by the next success. */
  lastError?: Refusal & { at: Date }
  nextAttemptAt?: Date
  graceUntil?: Date
}

export class PeerController {
  #entry: PeerEntry
  readonly role: PeerRole
  readonly #d: PeerDeps
  #state: PeerState
  #tunnel: TunnelState = 'down'
  #session: NodeSession | undefined
  /**
   * What the last session told us about the peer (tunnel address, CIDRs, inventory), kept while the
   * tunnel outlives the session (grace): the WireGuard peer still carries those addresses, so the
   * identities and pairs built on them stay until the tunnel goes (DESIGN §1: a restart cuts nothing).
   */
  #lastPeer: { establishedAt: Date; peer: NodeSession['peer'] } | undefined
  #rotations = 0
  #refusal: PeerSnapshot['refusal']
  #lastError: PeerSnapshot['lastError']
  #dialing = false
  /** The entry changed while a dial to the old one was under way: dial again when it ends. */
  #redial = false
  #generation = 0
  #retryTimer: TimerHandle | undefined
  #retryAt: number | undefined
  #rekeyTimer: TimerHandle | undefined
  #graceTimer: TimerHandle | undefined
  #graceUntil: number | undefined
  #expiryTimer: TimerHandle | undefined

  constructor(entry: PeerEntry, role: PeerRole, deps: PeerDeps) {
    this.#entry = entry
    this.role = role
    this.#d = deps
    this.#state = role === 'dialer' ? 'connecting' : 'awaiting'
  }

  get name(): string {
    return this.#entry.name
  }

  /** The certificate fingerprint this peer's registration names, if discovery gave one. */
  get fingerprint(): string | undefined {
    return this.#entry.fingerprint
  }

  get state(): PeerState {
    return this.#state
  }

  start(): void {
    if (this.role === 'dialer') this.#dial()
  }

  /** The peers file changed this peer's address: a dialer reconnects there. */
  updateEntry(entry: PeerEntry): void {
    this.#entry = entry
    if (this.role === 'dialer' && this.#state !== 'stopped') {
      this.#d.backoff.reset()
      if (this.#dialing) this.#redial = true
      else this.#dial()
    }
  }

  /** An inbound handshake attributed to this peer finished (server side). */
  inbound(outcome: HandshakeOutcome): void {
    if (this.#state === 'stopped') {
      if (outcome.ok) outcome.session.channel.close('peer removed')
      return
    }
    if (outcome.ok) this.#adopt(outcome.session)
    else this.#refused(outcome)
  }

  /**
   * Stop managing this peer. `removeTunnel`: the peer left the peers file (remove its WireGuard peer);
   * otherwise (daemon stopping) the tunnel stays for the next daemon to re-adopt.
   */
  stop(removeTunnel: boolean): void {
    this.#state = 'stopped'
    this.#generation++
    this.#clearTimers()
    this.#session?.channel.removeAllListeners()
    this.#session?.channel.close(removeTunnel ? 'peer removed' : 'daemon stopping')
    this.#session = undefined
    if (removeTunnel && this.#tunnel !== 'down')
      this.#removeTunnel('the peer was removed from the peers file')
  }

  /** Send this node's inventory on the live session (no-op without one). */
  sendInventory(workloads: NodeSession['peer']['workloads']): void {
    if (this.#session !== undefined && !this.#session.channel.closed)
      this.#session.channel.sendInventory(workloads)
  }

  /**
   * This node's credentials or trust bundle changed: authenticate again, make-before-break. A dialer
   * dials now (the new session replaces the old one; its PSK is programmed before the old connection
   * closes). An acceptor cannot dial, so it closes its control connection as planned: the dialer
   * re-dials at once while the tunnel stays (grace), exactly as for a restarting daemon.
   */
  rehandshake(why: string): void {
    if (this.#state === 'stopped') return
    if (this.role === 'dialer') {
      this.#d.backoff.reset()
      this.#dial()
    } else {
      this.#session?.channel.close(why)
    }
  }

  /** The serial number of the peer's current node certificate, when there is a session. */
  get certSerial(): string | undefined {
    return this.#session?.peer.certSerial
  }

  /**
   * The peer is on the revocation list: its session and tunnel go now (its pairs follow through
   * onSessionsChanged), and the next handshake is refused by verify() until the list changes.
   */
  revoke(why: string): void {
    if (this.#state === 'stopped' || (this.#session === undefined && this.#tunnel === 'down')) return
    this.#dropSession()
    this.#refusal = {
      reason: 'cert_revoked',
      message: `node ${this.name} is revoked: ${why}`,
      by: 'local',
      at: new Date(this.#d.clock.now()),
      unverified: false,
    }
    this.#state = 'refused'
    this.#removeTunnel(`revoked: ${why}`)
    if (this.role === 'dialer') this.#retryLater()
  }

  snapshot(): PeerSnapshot {
    const s = this.#session ?? (this.#tunnel !== 'down' ? this.#lastPeer : undefined)
    return {
      name: this.#entry.name,
      address: this.#entry.address,
      port: this.#entry.port,
      ...(this.#entry.fingerprint !== undefined && { fingerprint: this.#entry.fingerprint }),
      role: this.role,
      state: this.#state,
      tunnel: this.#tunnel,
      rotations: this.#rotations,
      ...(s && {
        lastHandshakeAt: s.establishedAt,
        endpoint: s.peer.endpoint,
        tunnelAddress: s.peer.tunnelAddress,
        wgPublicKey: s.peer.wgPublicKey,
        workloadCidrs: [...s.peer.workloadCidrs],
        workloads: s.peer.workloads.map((w) => ({ id: w.id, ips: [...w.ips] })),
      }),
      ...(this.#refusal && { refusal: this.#refusal }),
      ...(this.#lastError && { lastError: this.#lastError }),
      ...(this.#retryAt !== undefined && { nextAttemptAt: new Date(this.#retryAt) }),
      ...(this.#graceUntil !== undefined && { graceUntil: new Date(this.#graceUntil) }),
    }
  }

  #dial(): void {
    if (this.#dialing || this.#state === 'stopped') return
    this.#retryTimer?.cancel()
    this.#retryTimer = undefined
    this.#retryAt = undefined
    this.#dialing = true
    if (!this.#session) this.#state = 'connecting'
    const gen = this.#generation
    const { name, address, port, fingerprint } = this.#entry
    const target = { name, address, port, ...(fingerprint !== undefined && { fingerprint }) }
    this.#d.dial(target).then((outcome) => {
      this.#dialing = false
      if (gen !== this.#generation || this.#state === 'stopped') {
        if (outcome.ok) outcome.session.channel.close('superseded')
        return
      }
      if (outcome.ok) this.#adopt(outcome.session)
      else if (outcome.refusal.by === 'transport') this.#transportFailure(outcome.refusal)
      else this.#refused(outcome)
      if (this.#redial) {
        this.#redial = false
        this.#dial()
      }
    })
  }

  #adopt(session: NodeSession): void {
    const rotation = this.#session !== undefined || this.#tunnel !== 'down'
    const old = this.#session
    this.#session = session
    this.#lastPeer = session
    // make before break: program the new PSK first, then retire the old control connection
    this.#d.engine.upsertPeer({
      name: this.#entry.name,
      wgPublicKey: session.peer.wgPublicKey,
      presharedKey: session.presharedKey,
      endpoint: session.peer.endpoint,
      tunnelAddress: session.peer.tunnelAddress,
      workloadCidrs: [...session.peer.workloadCidrs],
      establishedAt: session.establishedAt,
    })
    if (old) {
      old.channel.removeAllListeners()
      old.channel.close('superseded by a new handshake')
    }
    if (rotation) this.#rotations++
    this.#state = 'established'
    this.#tunnel = 'up'
    this.#refusal = undefined
    this.#lastError = undefined
    this.#d.backoff.reset()
    this.#graceTimer?.cancel()
    this.#graceTimer = undefined
    this.#graceUntil = undefined
    this.#retryTimer?.cancel()
    this.#retryTimer = undefined
    this.#retryAt = undefined
    session.channel.on('lost', (why, planned) => this.#lost(session, why, planned))
    const onInventory = (workloads: NodeSession['peer']['workloads']) => {
      const problem = this.#d.checkInventory(session, workloads)
      if (problem) {
        this.#d.report({ kind: 'inventory_rejected', peer: this.name, message: problem })
        return
      }
      session.peer.workloads = workloads
      this.#d.report({ kind: 'inventory', peer: this.name, workloads: workloads.length })
    }
    session.channel.on('inventory', onInventory)
    const early = session.channel.takeEarlyInventory()
    if (early !== undefined) onInventory(early)
    const mine = this.#d.inventory?.()
    if (mine !== undefined) session.channel.sendInventory(mine)
    this.#armExpiry(session)
    if (this.role === 'dialer') this.#armRekey(this.#d.rekeyIntervalMs)
    this.#d.report({
      kind: 'established',
      peer: this.name,
      role: session.role,
      rotation,
      durationMs: session.durationMs,
    })
  }

  #armRekey(ms: number): void {
    this.#rekeyTimer?.cancel()
    this.#rekeyTimer = this.#d.clock.after(ms, () => {
      this.#rekeyTimer = undefined
      this.#dial()
    })
  }

  /** The session ends when the peer's certificate does: re-handshake or lose the tunnel. */
  #armExpiry(session: NodeSession): void {
    this.#expiryTimer?.cancel()
    const left = session.peer.certNotAfter.getTime() - this.#d.clock.now()
    this.#expiryTimer = this.#d.clock.after(Math.max(0, left), () => {
      if (this.#session !== session) return
      this.#dropSession()
      this.#refusal = {
        reason: 'cert_expired',
        message: `node ${this.name}'s certificate expired at ${session.peer.certNotAfter.toISOString()}`,
        by: 'local',
        at: new Date(this.#d.clock.now()),
        unverified: false,
      }
      this.#state = 'refused'
      this.#removeTunnel('the peer certificate expired')
      if (this.role === 'dialer') this.#retryLater()
    })
  }

  #lost(session: NodeSession, why: string, planned: boolean): void {
    if (this.#session !== session) return
    this.#dropSession()
    // in grace before anyone hears of the loss: listeners see the tunnel kept, not a gap
    this.#startGrace()
    this.#d.report({ kind: 'lost', peer: this.name, why, planned, graceMs: this.#d.gracePeriodMs })
    if (this.role === 'dialer') {
      this.#state = 'connecting'
      this.#dial()
    } else {
      this.#state = 'awaiting'
    }
  }

  #startGrace(): void {
    if (this.#tunnel !== 'up') return
    this.#tunnel = 'grace'
    this.#graceUntil = this.#d.clock.now() + this.#d.gracePeriodMs
    this.#graceTimer = this.#d.clock.after(this.#d.gracePeriodMs, () => {
      this.#graceTimer = undefined
      this.#graceUntil = undefined
      this.#removeTunnel(`no session for the ${this.#d.gracePeriodMs} ms grace period`)
    })
  }

  #transportFailure(refusal: Refusal): void {
    this.#lastError = { ...refusal, at: new Date(this.#d.clock.now()) }
    const retryInMs = this.#retryLater()
    // a failed re-handshake leaves a live session as it is
    if (!this.#session) this.#state = 'backoff'
    this.#d.report({ kind: 'failed', peer: this.name, refusal, retryInMs })
  }

  #refused(outcome: Extract<HandshakeOutcome, { ok: false }>): void {
    const unverified = outcome.peerUnverified
    this.#refusal = { ...outcome.refusal, at: new Date(this.#d.clock.now()), unverified }
    this.#d.report({
      kind: 'refused',
      peer: this.name,
      role: outcome.role,
      refusal: outcome.refusal,
      unverified,
      durationMs: outcome.durationMs,
    })
    // a registration is only a hint: a record that disagrees with what the handshake proves is refused
    // and shown, but does not cut a session an earlier handshake proved (a forged record would cut it)
    // a peer that is starting (peers not loaded yet) or stopping is restarting: retry, keep the tunnel
    const keepsTunnel =
      unverified ||
      outcome.refusal.reason === 'registration_mismatch' ||
      outcome.refusal.reason === 'starting' ||
      outcome.refusal.reason === 'shutting_down'
    if (!keepsTunnel) {
      this.#dropSession()
      this.#state = 'refused'
      this.#removeTunnel(`refused: ${outcome.refusal.reason}`)
    } else if (!this.#session) {
      this.#state = 'refused'
    }
    if (this.role === 'dialer' && outcome.role === 'client') this.#retryLater()
  }

  #retryLater(): number {
    const ms = this.#d.backoff.next()
    this.#retryTimer?.cancel()
    this.#retryAt = this.#d.clock.now() + ms
    this.#retryTimer = this.#d.clock.after(ms, () => {
      this.#retryTimer = undefined
      this.#retryAt = undefined
      this.#dial()
    })
    return ms
  }

  #dropSession(): void {
    const s = this.#session
    this.#session = undefined
    this.#rekeyTimer?.cancel()
    this.#rekeyTimer = undefined
    this.#expiryTimer?.cancel()
    this.#expiryTimer = undefined
    if (s) {
      s.channel.removeAllListeners()
      s.channel.close('session ended')
    }
  }

  #removeTunnel(why: string): void {
    this.#graceTimer?.cancel()
    this.#graceTimer = undefined
    this.#graceUntil = undefined
    this.#lastPeer = undefined
    if (this.#tunnel === 'down') return
    this.#tunnel = 'down'
    this.#d.engine.removePeer(this.name)
    this.#d.report({ kind: 'tunnel_removed', peer: this.name, why })
  }

  #clearTimers(): void {
    for (const t of [this.#retryTimer, this.#rekeyTimer, this.#graceTimer, this.#expiryTimer]) t?.cancel()
    this.#retryTimer = this.#rekeyTimer = this.#graceTimer = this.#expiryTimer = undefined
    this.#retryAt = this.#graceUntil = undefined
  }
}

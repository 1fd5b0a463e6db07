/**
 * The pair-auth loop: keeps the planned pairs authenticated. It owns the PairTable and one
 * DeadlineScheduler (one timer for every re-auth and expiry), runs at most `maxInFlight` handshakes
 * at a time through the injected `authenticate` (the daemon passes authenticatePair with the peer's
 * tunnel address), and tells the daemon what to write or delete through two callbacks. It touches no
 * kernel state itself.
 */
import { type Clock, systemClock } from '../base/clock.js'
import { DeadlineScheduler } from '../base/deadline-scheduler.js'
import { type PairState, PairTable, type PairTableOptions, type Reconciled } from './pair-table.js'
import { type PlannedPair, pairKey } from './planner.js'
import type { PairFailure, PairOutcome, PairSuccess } from './types.js'

export type RevokeWhy = 'removed' | 'expired' | 'refused'

export interface PairAuthLoopOptions {
  /** Authenticate one pair as the client (never rejects; see authenticatePair). */
  authenticate: (pair: PairState) => Promise<PairOutcome>
  /** Write auth[(X, Y)], auth[(Y, X)] until outcome.expiresAt and ipcache from outcome.remoteIps. */
  onAuthenticated: (pair: PairState, outcome: PairSuccess) => void
  /** Delete the pair's auth entries now. */
  onRevoked: (pair: PairState, why: RevokeWhy) => void
  /** A failed attempt (for logs, metrics, status). */
  onFailed?: (pair: PairState, outcome: PairFailure) => void
  clock?: Clock
  granularityMs?: number
  /** Handshakes in flight at most (default 64). */
  maxInFlight?: number
  table?: PairTableOptions
  /**
   * How long a pair this daemon refused for its policy (the peer dialed first, its policy already
   * allowed the pair) is remembered: when our policy allows it within this time we dial at once, as
   * the initiator may be backing off after our refusal (default 30 s).
   */
  refusedMemoryMs?: number
}

/** At most this many refused pairs are remembered (oldest forgotten first): peers cannot grow it. */
const REFUSED_MEMORY_MAX = 4096

export class PairAuthLoop {
  readonly table: PairTable
  readonly #o: PairAuthLoopOptions
  readonly #clock: Clock
  readonly #scheduler: DeadlineScheduler<string>
  readonly #queue: PairState[] = []
  readonly #maxInFlight: number
  /** Pairs our server refused for policy (key → when), in insertion order. */
  readonly #refused = new Map<string, number>()
  readonly #refusedMemoryMs: number
  #running = 0
  #stopped = false

  constructor(o: PairAuthLoopOptions) {
    this.#o = o
    this.#clock = o.clock ?? systemClock
    this.#maxInFlight = Math.max(1, o.maxInFlight ?? 64)
    this.#refusedMemoryMs = o.refusedMemoryMs ?? 30_000
    this.table = new PairTable(o.table)
    this.#scheduler = new DeadlineScheduler((keys, now) => this.#due(keys, now), {
      clock: this.#clock,
      ...(o.granularityMs === undefined ? {} : { granularityMs: o.granularityMs }),
    })
  }

  /**
   * The planned pairs changed (policy reload, inventory update, local workload change). Pairs no longer
   * planned lose their entries now; new ones are dialed at once (initiator) or after the grace.
   */
  update(desired: readonly PlannedPair[]): Reconciled {
    const now = this.#clock.now()
    const changes = this.table.reconcile(desired, now)
    for (const s of changes.removed) {
      this.#scheduler.delete(s.key)
      if (s.expiresAt !== undefined) this.#o.onRevoked(s, 'removed')
    }
    for (const s of changes.added) {
      // a pair the peer asked for moments ago, refused then by our old policy: it is waiting on us
      const refusedAt = this.#refused.get(s.key)
      if (refusedAt !== undefined) {
        this.#refused.delete(s.key)
        if (now - refusedAt <= this.#refusedMemoryMs) this.table.dialNow(s.key, now)
      }
      this.#reschedule(s.key)
    }
    this.#due(
      changes.added.map((s) => s.key),
      now,
    )
    return changes
  }

  /** An outcome of our pair-auth server (the peer dialed): record it like our own. */
  accepted(outcome: PairOutcome): void {
    if (outcome.local === undefined || outcome.remote === undefined || outcome.remoteNode === undefined)
      return
    const key = pairKey(outcome.local, outcome.remote, outcome.remoteNode)
    if (!outcome.ok && outcome.reason === 'policy_denied' && outcome.by === 'local') {
      if (this.table.get(key) === undefined) {
        this.#rememberRefused(key)
        return
      }
      // refused under our policy of a moment ago, planned under the one reloaded since: the peer
      // backs off after the refusal, so the pair waits on us; not a failure of ours
      const now = this.#clock.now()
      if (this.table.dialNow(key, now)) this.#due([key], now)
      return
    }
    if (this.table.get(key)?.inFlight) {
      // our own dial for this pair is under way; its outcome decides. A success still counts now.
      if (!outcome.ok) return
    }
    this.#record(key, outcome)
  }

  /** An auth-required event from the datapath: dial the pair now. */
  demand(local: string, remote: string): void {
    const now = this.#clock.now()
    this.#due(this.table.demand(local, remote, now), now)
  }

  stop(): void {
    this.#stopped = true
    this.#scheduler.stop()
    this.#queue.length = 0
  }

  get inFlight(): number {
    return this.#running
  }

  #due(keys: readonly string[], now: number): void {
    if (this.#stopped) return
    for (const s of this.table.takeExpired(now, keys)) this.#o.onRevoked(s, 'expired')
    for (const s of this.table.takeDue(now, keys)) this.#queue.push(s)
    for (const k of keys) this.#reschedule(k)
    this.#pump()
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#maxInFlight && this.#queue.length > 0) {
      const s = this.#queue.shift() as PairState
      if (this.table.get(s.key) !== s) continue // removed while queued
      this.#running++
      this.#o
        .authenticate(s)
        .catch(
          (err: unknown): PairOutcome => ({
            ok: false,
            role: 'client',
            local: s.local,
            remote: s.remote,
            remoteNode: s.node,
            reason: 'connection_lost',
            message: `authenticate failed: ${(err as Error)?.message ?? String(err)}`,
            by: 'transport',
            durationMs: 0,
          }),
        )
        .then((outcome) => {
          this.#running--
          if (!this.#stopped) this.#record(s.key, outcome)
          this.#pump()
        })
    }
  }

  #record(key: string, outcome: PairOutcome): void {
    const now = this.#clock.now()
    if (outcome.ok) {
      const s = this.table.succeeded(key, outcome.expiresAt.getTime(), outcome.remoteIps, now)
      if (s !== undefined) this.#o.onAuthenticated(s, outcome)
    } else {
      const r = this.table.failed(key, outcome.reason, now)
      if (r !== undefined) {
        if (r.revoke) this.#o.onRevoked(r.state, 'refused')
        this.#o.onFailed?.(r.state, outcome)
      }
    }
    this.#reschedule(key)
  }

  #rememberRefused(key: string): void {
    this.#refused.delete(key)
    this.#refused.set(key, this.#clock.now())
    if (this.#refused.size > REFUSED_MEMORY_MAX) {
      this.#refused.delete(this.#refused.keys().next().value as string)
    }
  }

  #reschedule(key: string): void {
    const at = this.table.deadlineOf(key)
    if (at === undefined) this.#scheduler.delete(key)
    else this.#scheduler.set(key, at)
  }
}

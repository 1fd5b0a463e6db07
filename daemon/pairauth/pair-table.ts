/**
 * The state of every planned pair: authenticated until when, when to dial next, in flight or not.
 * Pure (time is an argument, randomness injected); the loop (loop.ts) turns its answers into
 * handshakes and auth-entry writes. Every method returns exactly what the caller must change in the
 * datapath, so nothing is left behind: pairs that stop being desired or expire are handed back.
 */
import { type PlannedPair, pairKey } from './planner.js'
import { isDefinitive, type PairReason } from './reasons.js'
import { firstDialAt, type ReauthTiming, reauthAt, reauthTiming, retryAt } from './reauth.js'

export interface PairState {
  readonly key: string
  readonly local: string
  readonly remote: string
  readonly node: string
  readonly initiator: boolean
  /** Authenticated until (ms since the epoch); undefined when not authenticated. */
  expiresAt: number | undefined
  /** The remote SVID's IPs from the last success. */
  remoteIps: readonly string[]
  /** When to dial next; undefined while a handshake is in flight. */
  dialAt: number | undefined
  inFlight: boolean
  /** Failures in a row. */
  failures: number
  lastReason: PairReason | undefined
}

export interface PairTableOptions {
  timing?: Partial<ReauthTiming>
  random?: () => number
}

export interface Reconciled {
  /** Newly desired pairs (not authenticated yet). */
  added: PairState[]
  /** Pairs no longer desired; those with expiresAt set have auth entries to delete now. */
  removed: PairState[]
}

export class PairTable {
  readonly timing: ReauthTiming
  readonly #random: () => number
  readonly #pairs = new Map<string, PairState>()

  constructor(o: PairTableOptions = {}) {
    this.timing = reauthTiming(o.timing)
    this.#random = o.random ?? Math.random
  }

  /** Make the table hold exactly `desired` (from desiredPairs) at `now`. */
  reconcile(desired: readonly PlannedPair[], now: number): Reconciled {
    const added: PairState[] = []
    const removed: PairState[] = []
    const keep = new Set<string>()
    for (const p of desired) {
      keep.add(p.key)
      // the key holds both IDs and the node, so the initiator of a kept pair never changes
      if (this.#pairs.has(p.key)) continue
      const state: PairState = {
        key: p.key,
        local: p.local,
        remote: p.remote,
        node: p.node,
        initiator: p.initiator,
        expiresAt: undefined,
        remoteIps: [],
        dialAt: firstDialAt(now, p.initiator, this.timing),
        inFlight: false,
        failures: 0,
        lastReason: undefined,
      }
      this.#pairs.set(p.key, state)
      added.push(state)
    }
    for (const [key, state] of this.#pairs) {
      if (keep.has(key)) continue
      this.#pairs.delete(key)
      removed.push(state)
    }
    return { added, removed }
  }

  get(key: string): PairState | undefined {
    return this.#pairs.get(key)
  }

  find(local: string, remote: string, node: string): PairState | undefined {
    return this.#pairs.get(pairKey(local, remote, node))
  }

  list(): PairState[] {
    return [...this.#pairs.values()]
  }

  get size(): number {
    return this.#pairs.size
  }

  /** The earliest time something is due for `key` (dial or expiry). */
  deadlineOf(key: string): number | undefined {
    const s = this.#pairs.get(key)
    if (s === undefined) return undefined
    const a = s.dialAt
    const b = s.expiresAt
    if (a === undefined) return b
    return b === undefined ? a : Math.min(a, b)
  }

  /** The pairs to dial now; they are marked in flight. */
  takeDue(now: number, keys: Iterable<string> = this.#pairs.keys()): PairState[] {
    const out: PairState[] = []
    for (const key of keys) {
      const s = this.#pairs.get(key)
      if (s === undefined || s.inFlight || s.dialAt === undefined || s.dialAt > now) continue
      s.inFlight = true
      s.dialAt = undefined
      out.push(s)
    }
    return out
  }

  /** Authenticated pairs whose entries expired by `now` (delete them); they are dialed again at once. */
  takeExpired(now: number, keys: Iterable<string> = this.#pairs.keys()): PairState[] {
    const out: PairState[] = []
    for (const key of keys) {
      const s = this.#pairs.get(key)
      if (s === undefined || s.expiresAt === undefined || s.expiresAt > now) continue
      s.expiresAt = undefined
      if (!s.inFlight) s.dialAt = now
      out.push(s)
    }
    return out
  }

  /**
   * A handshake for this pair succeeded (dialed by us or by the peer). Returns the state to write
   * entries for, or undefined when the pair is no longer desired: then write nothing.
   */
  succeeded(
    key: string,
    expiresAt: number,
    remoteIps: readonly string[],
    now: number,
  ): PairState | undefined {
    const s = this.#pairs.get(key)
    if (s === undefined) return undefined
    s.inFlight = false
    s.failures = 0
    s.lastReason = undefined
    s.remoteIps = [...remoteIps]
    if (expiresAt <= now) {
      s.expiresAt = undefined
      s.dialAt = retryAt(now, 1, this.timing, this.#random)
      return undefined
    }
    s.expiresAt = expiresAt
    s.dialAt = reauthAt(now, expiresAt, s.initiator, this.timing, this.#random)
    return s
  }

  /**
   * A handshake for this pair failed. Returns `revoke: true` when the pair's auth entries must go now
   * (a definitive refusal while it was authenticated).
   */
  failed(key: string, reason: PairReason, now: number): { state: PairState; revoke: boolean } | undefined {
    const s = this.#pairs.get(key)
    if (s === undefined) return undefined
    s.inFlight = false
    s.failures += 1
    s.lastReason = reason
    const revoke = s.expiresAt !== undefined && isDefinitive(reason)
    if (revoke) s.expiresAt = undefined
    s.dialAt = retryAt(now, s.failures, this.timing, this.#random)
    return { state: s, revoke }
  }

  /** Make a pair not yet authenticated and not in flight due now (true if it was made due). */
  dialNow(key: string, now: number): boolean {
    const s = this.#pairs.get(key)
    if (s === undefined || s.inFlight || s.expiresAt !== undefined) return false
    s.dialAt = now
    return true
  }

  /**
   * An auth-required event (a dropped packet between `local` and `remote`): every such pair that is
   * not authenticated and not in flight is dialed now, whoever the initiator. Returns their keys.
   */
  demand(local: string, remote: string, now: number): string[] {
    const out: string[] = []
    for (const s of this.#pairs.values()) {
      if (s.local === local && s.remote === remote && this.dialNow(s.key, now)) out.push(s.key)
    }
    return out
  }
}

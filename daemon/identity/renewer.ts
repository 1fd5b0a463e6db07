/**
 * latchd's SVID renewal: keeps every local workload's SVID fresh by renewing it from the node
 * intermediate at half-life (renew.ts), on one coarse timer for all workloads, with an injectable
 * clock. Each new SVID is announced with a `renewed` event carrying what the pair-auth credentials
 * take (`credentials.put(svid)`), so the next handshakes present it; auth entries made with the old
 * one stay valid until their own expiry, so no traffic is lost. A failed renewal is announced with
 * `failed` and retried after `retryMs`; the old SVID stays on disk and in use meanwhile.
 */
import { X509Certificate } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { IssuedSvid } from '../../certs/index.js'
import { LIFETIME, loadPem, parseIp } from '../../certs/index.js'
import { type Clock, systemClock } from '../base/clock.js'
import { DeadlineScheduler } from '../base/deadline-scheduler.js'
import { durationWithin } from '../base/duration.js'
import { asLatchError, type LatchError } from '../base/errors.js'
import { type LocalWorkload, type NodeIntermediate, renewalTime, renewSvid } from './renew.js'
import { type CurrentSvid, readCurrentSvid } from './svid-files.js'

/**
 * Why an SVID was (re)issued. `ttl-shortened`: the SVID on disk outlives one issued now with the
 * configured ttl (the ttl was lowered, or the files came from `identity issue` with a longer one): the
 * configured lifetime applies at once, not only after the old SVID's half-life.
 */
export type RenewCause = 'missing' | 'half-life' | 'identity-changed' | 'ttl-shortened' | 'forced'

export interface RenewedSvid extends IssuedSvid {
  cause: RenewCause
}

/** The SVID a workload presents now: what start() returns per workload. */
export interface ActiveSvid {
  spiffeId: string
  chainPem: string
  keyPem: string
  notAfter: Date
}

export interface SvidRenewerOptions {
  intermediate: NodeIntermediate
  workloads: readonly LocalWorkload[]
  /** Lifetime of new SVIDs (default 1 h). */
  ttl?: string | number
  clock?: Clock
  /** Retry a failed renewal after this long (default 30 s). */
  retryMs?: number
  granularityMs?: number
}

interface RenewerEvents {
  renewed: [svid: RenewedSvid]
  failed: [id: string, error: LatchError]
}

export class SvidRenewer extends EventEmitter<RenewerEvents> {
  readonly #o: SvidRenewerOptions
  readonly #clock: Clock
  readonly #workloads = new Map<string, LocalWorkload>()
  readonly #scheduler: DeadlineScheduler<string>
  readonly #busy = new Set<string>()
  readonly #ttlMs: number
  #stopped = false

  constructor(o: SvidRenewerOptions) {
    super()
    this.#o = o
    this.#clock = o.clock ?? systemClock
    this.#ttlMs = durationWithin(
      o.ttl ?? LIFETIME.workload,
      LIFETIME.workloadMin,
      LIFETIME.workloadMax,
      'SVID ttl',
    )
    for (const w of o.workloads) this.#workloads.set(w.id, w)
    this.#scheduler = new DeadlineScheduler((ids) => this.#due(ids), {
      clock: this.#clock,
      granularityMs: o.granularityMs ?? 1000,
    })
  }

  /**
   * Load every workload's SVID, renew those that are missing, unusable, for other IPs or past
   * half-life, and schedule the rest. Resolves with the SVID each workload presents now (a workload
   * whose renewal failed and has no usable SVID is left out, and reported with `failed`).
   */
  async start(): Promise<ActiveSvid[]> {
    const out: ActiveSvid[] = []
    for (const w of this.#workloads.values()) {
      const active = await this.#ensure(w)
      if (active !== undefined) out.push(active)
    }
    return out
  }

  /** Track a new local workload (its SVID is checked and renewed as at start). */
  async add(w: LocalWorkload): Promise<ActiveSvid | undefined> {
    this.#workloads.set(w.id, w)
    return this.#ensure(w)
  }

  /** Stop renewing a workload (it left this node). Its files stay. */
  remove(id: string): void {
    this.#workloads.delete(id)
    this.#scheduler.delete(id)
  }

  /** Renew now, whatever the half-life (e.g. `latchctl identity renew`). */
  async renewNow(id: string): Promise<RenewedSvid | undefined> {
    const w = this.#workloads.get(id)
    return w === undefined ? undefined : this.#renew(w, 'forced')
  }

  /** When each workload's next renewal is due (ms since the epoch). */
  schedule(): Map<string, number> {
    const m = new Map<string, number>()
    for (const id of this.#workloads.keys()) {
      const at = this.#scheduler.get(id)
      if (at !== undefined) m.set(id, at)
    }
    return m
  }

  stop(): void {
    this.#stopped = true
    this.#scheduler.stop()
  }

  async #ensure(w: LocalWorkload): Promise<ActiveSvid | undefined> {
    let current: CurrentSvid | undefined
    try {
      current = await readCurrentSvid(w)
    } catch (err) {
      this.#fail(w.id, err)
      return undefined
    }
    const cause = this.#needsRenewal(w, current)
    if (cause !== undefined) {
      const renewed = await this.#renew(w, cause)
      if (renewed !== undefined) return renewed
      // renewal failed (reported, retry scheduled): keep presenting the current SVID while it is valid
      if (current === undefined || current.notAfter.getTime() <= this.#clock.now()) return undefined
    } else {
      this.#scheduler.set(w.id, renewalTime(current!.notBefore, current!.notAfter))
    }
    const valid = current as CurrentSvid
    try {
      return {
        spiffeId: w.id,
        chainPem: valid.certPem + (await loadPem(this.#o.intermediate.certFile)),
        keyPem: valid.keyPem,
        notAfter: valid.notAfter,
      }
    } catch (err) {
      this.#fail(w.id, err)
      return undefined
    }
  }

  #needsRenewal(w: LocalWorkload, current: CurrentSvid | undefined): RenewCause | undefined {
    if (current === undefined) return 'missing'
    const wanted = [...new Set(w.ips.map((ip) => parseIp(ip).toString()))].sort()
    if (current.spiffeId !== w.id || wanted.join() !== [...current.ips].sort().join()) {
      return 'identity-changed'
    }
    const now = this.#clock.now()
    if (now >= renewalTime(current.notBefore, current.notAfter)) return 'half-life'
    if (current.notAfter.getTime() > now + this.#ttlMs) return 'ttl-shortened'
    return undefined
  }

  async #renew(w: LocalWorkload, cause: RenewCause): Promise<RenewedSvid | undefined> {
    if (this.#busy.has(w.id) || this.#stopped) return undefined
    this.#busy.add(w.id)
    try {
      const svid = await renewSvid({
        intermediate: this.#o.intermediate,
        workload: w,
        ttl: this.#o.ttl,
        now: new Date(this.#clock.now()),
      })
      if (this.#stopped || this.#workloads.get(w.id) !== w) return undefined
      this.#scheduler.set(w.id, renewalTime(notBeforeOf(svid), svid.notAfter))
      const renewed: RenewedSvid = { ...svid, cause }
      this.emit('renewed', renewed)
      return renewed
    } catch (err) {
      this.#fail(w.id, err)
      return undefined
    } finally {
      this.#busy.delete(w.id)
    }
  }

  #fail(id: string, err: unknown): void {
    if (this.#stopped) return
    this.#scheduler.set(id, this.#clock.now() + (this.#o.retryMs ?? 30_000))
    this.emit('failed', id, asLatchError(err))
  }

  #due(ids: readonly string[]): void {
    for (const id of ids) {
      const w = this.#workloads.get(id)
      if (w !== undefined) void this.#renew(w, 'half-life')
    }
  }
}

function notBeforeOf(svid: IssuedSvid): Date {
  return new Date(new X509Certificate(svid.certPem).validFrom)
}

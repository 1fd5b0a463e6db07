/**
 * One coarse timer for any number of deadlines (re-authentications, expiries, renewals): a min-heap
 * of (deadline, key) and a single timer armed for the earliest, rounded up to `granularityMs` so
 * deadlines close together fire in one batch. Setting a key again replaces its deadline (stale heap
 * entries are skipped lazily and compacted). No timer per key, no closure per deadline.
 */

import { type Clock, systemClock, type TimerHandle } from './clock.js'
import { LatchError } from './errors.js'

export interface SchedulerOptions {
  clock?: Clock
  /** Deadlines are served in slots of this many ms (default 100). */
  granularityMs?: number
}

interface Entry<K> {
  at: number
  key: K
}

export class DeadlineScheduler<K> {
  readonly #onDue: (keys: K[], now: number) => void
  readonly #clock: Clock
  readonly #granularity: number
  readonly #deadlines = new Map<K, number>()
  #heap: Entry<K>[] = []
  #timer: TimerHandle | undefined
  #armedFor: number | undefined
  #stopped = false

  constructor(onDue: (keys: K[], now: number) => void, o: SchedulerOptions = {}) {
    const g = o.granularityMs ?? 100
    if (!Number.isFinite(g) || g < 1) {
      throw new LatchError('LATCH_ERR_PAIRAUTH_BAD_ARGUMENT', `granularityMs must be >= 1, got ${g}`)
    }
    this.#onDue = onDue
    this.#clock = o.clock ?? systemClock
    this.#granularity = g
  }

  /** Call onDue with `key` at (or just after) `at` (ms since the epoch); replaces an earlier setting. */
  set(key: K, at: number): void {
    if (this.#stopped) return
    if (!Number.isFinite(at)) {
      throw new LatchError('LATCH_ERR_PAIRAUTH_BAD_ARGUMENT', `a deadline must be a finite time, got ${at}`)
    }
    if (this.#deadlines.get(key) === at) return
    this.#deadlines.set(key, at)
    this.#push({ at, key })
    if (this.#heap.length > 64 && this.#heap.length > 2 * this.#deadlines.size) this.#compact()
    this.#arm()
  }

  delete(key: K): boolean {
    const had = this.#deadlines.delete(key)
    if (had && this.#deadlines.size === 0) this.#arm()
    return had
  }

  get(key: K): number | undefined {
    return this.#deadlines.get(key)
  }

  get size(): number {
    return this.#deadlines.size
  }

  /** The earliest pending deadline. */
  next(): number | undefined {
    return this.#top()?.at
  }

  /** When the one timer fires next (a slot boundary), if armed: for tests and status. */
  get armedFor(): number | undefined {
    return this.#armedFor
  }

  stop(): void {
    this.#stopped = true
    this.#disarm()
    this.#deadlines.clear()
    this.#heap = []
  }

  #fire(): void {
    this.#timer = undefined
    this.#armedFor = undefined
    const now = this.#clock.now()
    const due: K[] = []
    for (let top = this.#top(); top !== undefined && top.at <= now; top = this.#top()) {
      this.#pop()
      this.#deadlines.delete(top.key)
      due.push(top.key)
    }
    this.#arm()
    if (due.length > 0) this.#onDue(due, now)
  }

  #arm(): void {
    const top = this.#top()
    if (top === undefined || this.#stopped) {
      this.#disarm()
      return
    }
    const slot = Math.ceil(top.at / this.#granularity) * this.#granularity
    if (this.#armedFor === slot) return
    this.#disarm()
    this.#armedFor = slot
    this.#timer = this.#clock.after(Math.max(0, slot - this.#clock.now()), () => this.#fire())
  }

  #disarm(): void {
    this.#timer?.cancel()
    this.#timer = undefined
    this.#armedFor = undefined
  }

  /** The heap's top after dropping stale entries. */
  #top(): Entry<K> | undefined {
    for (;;) {
      const top = this.#heap[0]
      if (top === undefined || this.#deadlines.get(top.key) === top.at) return top
      this.#pop()
    }
  }

  #compact(): void {
    this.#heap = []
    for (const [key, at] of this.#deadlines) this.#push({ at, key })
  }

  #push(e: Entry<K>): void {
    const h = this.#heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent]!.at <= e.at) break
      h[i] = h[parent]!
      i = parent
    }
    h[i] = e
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop()
    if (last === undefined || h.length === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      let mAt = last.at
      if (l < h.length && h[l]!.at < mAt) {
        m = l
        mAt = h[l]!.at
      }
      if (r < h.length && h[r]!.at < mAt) m = r
      if (m === i) break
      h[i] = h[m]!
      i = m
    }
    h[i] = last
  }
}

/** A clock that only moves when the test says so. */
import type { Clock, TimerHandle } from '../../daemon/node/clock.js'

interface Timer {
  due: number
  seq: number
  fn: () => void
  cancelled: boolean
}

export class ManualClock implements Clock {
  #now: number
  #seq = 0
  #timers: Timer[] = []

  constructor(start = Date.now()) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  after(ms: number, fn: () => void): TimerHandle {
    const t: Timer = { due: this.#now + ms, seq: this.#seq++, fn, cancelled: false }
    this.#timers.push(t)
    return {
      cancel: () => {
        t.cancelled = true
      },
    }
  }

  /** Delays of the pending timers, soonest first. */
  pending(): number[] {
    return this.#timers
      .filter((t) => !t.cancelled)
      .map((t) => t.due - this.#now)
      .sort((a, b) => a - b)
  }

  /** Move time forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      const next = this.#timers
        .filter((t) => !t.cancelled && t.due <= end)
        .sort((a, b) => a.due - b.due || a.seq - b.seq)[0]
      if (!next) break
      this.#now = next.due
      next.cancelled = true
      next.fn()
    }
    this.#now = end
    this.#timers = this.#timers.filter((t) => !t.cancelled)
  }
}

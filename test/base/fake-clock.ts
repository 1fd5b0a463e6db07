/** The one hand-driven Clock for tests: time moves only in advance(), which fires due timers in order. */
import type { Clock, TimerHandle } from '../../daemon/base/clock.js'

interface Timer {
  due: number
  seq: number
  fn: () => void
  cancelled: boolean
}

export class FakeClock implements Clock {
  #now: number
  #seq = 0
  #timers: Timer[] = []
  /** Every timer ever set (a scheduler must keep this small). */
  timersSet = 0

  constructor(start = Date.now()) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  after(ms: number, fn: () => void): TimerHandle {
    const t: Timer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#timers.push(t)
    this.timersSet++
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

  /** Move time forward by `ms`, running every timer that falls due, at its own time, in order. */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      const next = this.#timers
        .filter((t) => !t.cancelled && t.due <= end)
        .sort((a, b) => a.due - b.due || a.seq - b.seq)[0]
      if (!next) break
      this.#now = Math.max(this.#now, next.due)
      next.cancelled = true
      next.fn()
    }
    this.#now = end
    this.#timers = this.#timers.filter((t) => !t.cancelled)
  }
}

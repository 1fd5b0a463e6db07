/** A hand-driven Clock: time moves only in advance(), which fires due timers in order. */
import type { Clock } from '../../daemon/pairauth/index.js'

interface Timer {
  id: number
  at: number
  fn: () => void
}

export class FakeClock implements Clock {
  #now: number
  #timers: Timer[] = []
  #next = 1
  /** Every timer ever set (a scheduler must keep this small). */
  timersSet = 0

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimer(fn: () => void, ms: number): unknown {
    const t = { id: this.#next++, at: this.#now + Math.max(0, ms), fn }
    this.#timers.push(t)
    this.timersSet++
    return t.id
  }

  clearTimer(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle)
  }

  /** Timers currently armed. */
  get pending(): number {
    return this.#timers.length
  }

  /** Move time forward by `ms`, firing every timer that falls due, at its own time. */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0]
      if (due === undefined) break
      this.#timers = this.#timers.filter((t) => t !== due)
      this.#now = Math.max(this.#now, due.at)
      due.fn()
    }
    this.#now = end
  }
}

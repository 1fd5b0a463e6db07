/**
 * Time as latchd sees it, the one Clock: injected everywhere (peer state machines, the deadline
 * scheduler, SVID renewal, pair authentication) so tests drive backoff, rekey, grace periods and
 * expiries by hand (test/base/fake-clock.ts) without waiting. The system clock handles delays
 * beyond setTimeout's 24.8-day limit.
 */

export interface TimerHandle {
  cancel(): void
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Run `fn` once after `ms` milliseconds (unref'd: timers never keep the process alive). */
  after(ms: number, fn: () => void): TimerHandle
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    let t: NodeJS.Timeout
    const due = Date.now() + ms
    const arm = () => {
      const left = due - Date.now()
      t = setTimeout(left > MAX_TIMEOUT_MS ? arm : fn, Math.min(Math.max(0, left), MAX_TIMEOUT_MS))
      t.unref()
    }
    arm()
    return { cancel: () => clearTimeout(t) }
  },
}

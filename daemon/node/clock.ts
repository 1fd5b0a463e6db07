/**
 * Time as the peer state machine sees it: injected so tests can drive backoff, rekey and grace
 * periods without waiting. The system clock handles delays beyond setTimeout's 24.8-day limit.
 */

export interface TimerHandle {
  cancel(): void
}

export interface Clock {
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

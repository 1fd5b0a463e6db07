/**
 * One time-scale factor for every timeout latchd, the lab and the tests use: `LATCH_TIME_SCALE`
 * (a number ≥ 1, default 1). The real-kernel lane sets it (User-Mode Linux runs Node-heavy code
 * 15–22× slower than the host), so the same code and tests pass there. It stretches timeouts and
 * waits only — never configured periods (rekey interval, TTLs), which are what a test asks for.
 */

import { LatchError } from './errors.js'

const MAX_SCALE = 1000

function parse(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 1 || n > MAX_SCALE) {
    // Thrown at first use: a typo must not silently run with unscaled timeouts.
    throw new LatchError(
      'LATCH_ERR_TIME_SCALE_INVALID',
      `LATCH_TIME_SCALE=${JSON.stringify(raw)} is not a number from 1 to ${MAX_SCALE}`,
    )
  }
  return n
}

let cached: number | undefined

/** The factor from LATCH_TIME_SCALE (read once). */
export function timeScale(): number {
  cached ??= parse(process.env.LATCH_TIME_SCALE)
  return cached
}

/** `ms` stretched by the time-scale factor (rounded up to a whole millisecond). */
export function scaled(ms: number): number {
  return Math.ceil(ms * timeScale())
}

/** For tests of this module: the factor a given LATCH_TIME_SCALE value means. */
export function parseTimeScale(raw: string | undefined): number {
  return parse(raw)
}

/**
 * Durations as operators write them: "90s", "30m", "24h", "7d", or a sum such as "1h30m". Pure.
 */
import { LatchError } from '../daemon/errors.js'

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const WHOLE = /^(?:\d+[smhd])+$/
const PART = /(\d+)([smhd])/g

/** Milliseconds in `text`; throws LATCH_ERR_PKI_BAD_TTL for anything else, zero included. */
export function parseDuration(text: string): number {
  const trimmed = text.trim()
  if (!WHOLE.test(trimmed)) {
    throw new LatchError('LATCH_ERR_PKI_BAD_TTL', `"${text}" is not a duration`, { details: { input: text } })
  }
  let ms = 0
  for (const [, amount, unit] of trimmed.matchAll(PART)) ms += Number(amount) * (UNIT_MS[unit as string] ?? 0)
  if (ms === 0 || !Number.isSafeInteger(ms)) {
    throw new LatchError('LATCH_ERR_PKI_BAD_TTL', `"${text}" is not a usable duration (zero or too large)`, {
      details: { input: text },
    })
  }
  return ms
}

/** A duration given as text ("1h") or as milliseconds, checked against [min, max]. */
export function durationWithin(value: string | number, min: number, max: number, what: string): number {
  const ms = typeof value === 'number' ? value : parseDuration(value)
  if (!Number.isFinite(ms) || ms < min || ms > max) {
    throw new LatchError(
      'LATCH_ERR_PKI_BAD_TTL',
      `${what} ${JSON.stringify(value)} is out of range: it must be between ${formatDuration(min)} and ${formatDuration(max)}`,
      { details: { input: value, minMs: min, maxMs: max } },
    )
  }
  return ms
}

/** The shortest exact text for `ms` ("1h30m", "90s"); sub-second parts are dropped. */
export function formatDuration(ms: number): string {
  let rest = Math.floor(ms / 1000)
  if (rest === 0) return `${ms}ms`
  let out = ''
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) out += `${n}${unit}`
    rest -= n * size
  }
  return out
}

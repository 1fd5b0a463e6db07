/**
 * Durations, in the two forms latch accepts. Pure.
 *
 * - Config files (`parseDurationMs`, `formatDurationMs`): a number of seconds (`120`) or one number
 *   with a unit (`500ms`, `90s`, `2m`, `1h`, `1d`); undefined when the input is not a duration.
 * - Certificate lifetimes on the command line (`parseDuration`, `durationWithin`, `formatDuration`):
 *   "90s", "30m", "24h", "7d" or a sum such as "1h30m"; anything else is LATCH_ERR_PKI_BAD_TTL.
 */
import { LatchError } from './errors.js'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** Milliseconds, or undefined when `input` is not a duration. */
export function parseDurationMs(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input * 1000 : undefined
  if (typeof input !== 'string') return undefined
  const m = DURATION.exec(input.trim())
  if (!m) return undefined
  const unit = UNIT_MS[m[2]!]!
  return Math.round(Number(m[1]) * unit)
}

/** `120000` → `120s`, `1500` → `1500ms`, `7200000` → `2h`: the shortest exact form. */
export function formatDurationMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

const TTL_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const WHOLE = /^(?:\d+[smhd])+$/
const PART = /(\d+)([smhd])/g

/** Milliseconds in `text`; throws LATCH_ERR_PKI_BAD_TTL for anything else, zero included. */
export function parseDuration(text: string): number {
  const trimmed = text.trim()
  if (!WHOLE.test(trimmed)) {
    throw new LatchError('LATCH_ERR_PKI_BAD_TTL', `"${text}" is not a duration`, { details: { input: text } })
  }
  let ms = 0
  for (const [, amount, unit] of trimmed.matchAll(PART))
    ms += Number(amount) * (TTL_UNIT_MS[unit as string] ?? 0)
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

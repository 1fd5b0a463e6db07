/**
 * Durations in config files: a number of seconds (`120`) or a number with a unit
 * (`500ms`, `90s`, `2m`, `1h`, `1d`). Parsed to milliseconds. Pure.
 */

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

/** Summaries of latency samples (pure). Percentiles are nearest-rank on the sorted samples. */

export interface Summary {
  n: number
  min: number
  p50: number
  p99: number
  max: number
  mean: number
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1)
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? Number.NaN,
    mean,
  }
}

/** Rounds for JSON: latencies in µs with one decimal are plenty and keep the file small. */
export function round1(x: number): number {
  return Math.round(x * 10) / 10
}

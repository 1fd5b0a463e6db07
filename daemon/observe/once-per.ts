/**
 * Log at most once per interval per key: what a daemon under pressure (a flood being shed, accept
 * failing with EMFILE) needs so that its log does not become the next exhausted resource. The
 * first event of a key is logged at once; later ones within the interval are counted and the
 * count goes with the next line that is logged.
 */
export class OncePer {
  readonly #intervalMs: number
  readonly #now: () => number
  readonly #keys = new Map<string, { at: number; suppressed: number }>()

  constructor(intervalMs: number, now: () => number = Date.now) {
    this.#intervalMs = intervalMs
    this.#now = now
  }

  /** undefined: stay quiet; else log now, with how many events were not logged since the last line. */
  take(key: string): { suppressed: number } | undefined {
    const now = this.#now()
    const k = this.#keys.get(key)
    if (k !== undefined && now - k.at < this.#intervalMs) {
      k.suppressed++
      return undefined
    }
    const suppressed = k?.suppressed ?? 0
    this.#keys.set(key, { at: now, suppressed: 0 })
    return { suppressed }
  }
}

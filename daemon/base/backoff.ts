/**
 * Exponential backoff with jitter for re-dialing a peer: the n-th consecutive failure waits
 * d = min(cap, base · 2^(n-1)), drawn uniformly from [d/2, d] ("equal jitter"), so daemons that
 * failed together do not retry in lockstep, yet a retry never comes sooner than half the step.
 */

export interface BackoffPolicy {
  baseMs: number
  capMs: number
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 500, capMs: 30_000 })

export class Backoff {
  #failures = 0
  readonly #policy: BackoffPolicy
  readonly #random: () => number

  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random) {
    this.#policy = policy
    this.#random = random
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures
  }

  /** Record a failure and return how long to wait before the next attempt. */
  next(): number {
    this.#failures++
    const step = Math.min(this.#policy.capMs, this.#policy.baseMs * 2 ** Math.min(this.#failures - 1, 30))
    return Math.round(step / 2 + (this.#random() * step) / 2)
  }

  reset(): void {
    this.#failures = 0
  }
}

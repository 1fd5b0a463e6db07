import { scaled } from '../base/time-scale.js'

/** Timings of this implementation (not part of the protocol), with their defaults (timeouts stretched by LATCH_TIME_SCALE). */

export interface PairTiming {
  /** From TCP connect (client) or TLS accept (server) to a verdict, at most. */
  handshakeTimeoutMs: number
}

export const DEFAULT_PAIR_TIMING: Readonly<PairTiming> = Object.freeze({ handshakeTimeoutMs: scaled(5_000) })

/** Default lifetime of an auth entry when no certificate ends it sooner. */
export const DEFAULT_PAIR_TTL_MS = 3_600_000

import { scaled } from '../base/time-scale.js'

/** Timings of the handshake and of a live control connection (not part of the wire protocol). */
export interface HandshakeTiming {
  /** From TCP connect to established (or refused), at most. */
  handshakeTimeoutMs: number
  /** A ping is sent after this long without sending anything. */
  pingIntervalMs: number
  /** The connection counts as lost after this long without receiving anything. */
  idleTimeoutMs: number
}

/** Defaults, stretched by LATCH_TIME_SCALE. */
export const DEFAULT_TIMING: Readonly<HandshakeTiming> = Object.freeze({
  handshakeTimeoutMs: scaled(10_000),
  pingIntervalMs: scaled(5_000),
  idleTimeoutMs: scaled(15_000),
})

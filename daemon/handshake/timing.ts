/** Timings of the handshake and of a live control connection (not part of the wire protocol). */
export interface HandshakeTiming {
  /** From TCP connect to established (or refused), at most. */
  handshakeTimeoutMs: number
  /** A ping is sent after this long without sending anything. */
  pingIntervalMs: number
  /** The connection counts as lost after this long without receiving anything. */
  idleTimeoutMs: number
}

export const DEFAULT_TIMING: Readonly<HandshakeTiming> = Object.freeze({
  handshakeTimeoutMs: 10_000,
  pingIntervalMs: 5_000,
  idleTimeoutMs: 15_000,
})

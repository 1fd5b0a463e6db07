/**
 * When to (re-)authenticate a pair. Pure; randomness is injected.
 *
 * - A new pair: the initiator dials at once; the responder waits `responderGraceMs` for the
 *   initiator's handshake and dials itself only if none came (an old or stuck peer). A pair whose
 *   initiator dialed moments before and was refused by the responder's old policy (the two daemons
 *   reload a policy edit at different moments) is dialed by the responder at once (loop.ts).
 * - An authenticated pair: the initiator re-authenticates at `reauthFraction` (2/3) of the entry's
 *   lifetime, the responder takes over at `responderFraction` (5/6), each minus up to `jitterFraction`
 *   of the lifetime, so renewals spread out and the responder acts only if the initiator did not.
 * - A failed attempt: exponential backoff from `retryBaseMs` to `retryMaxMs`, with jitter.
 */
import { LatchError } from '../base/errors.js'

export interface ReauthTiming {
  reauthFraction: number
  responderFraction: number
  jitterFraction: number
  responderGraceMs: number
  retryBaseMs: number
  retryMaxMs: number
}

export const DEFAULT_REAUTH_TIMING: Readonly<ReauthTiming> = Object.freeze({
  reauthFraction: 2 / 3,
  responderFraction: 5 / 6,
  jitterFraction: 0.1,
  responderGraceMs: 3_000,
  retryBaseMs: 1_000,
  retryMaxMs: 60_000,
})

/** Validate a timing (merged over the defaults); LATCH_ERR_PAIRAUTH_BAD_ARGUMENT names the bad field. */
export function reauthTiming(partial: Partial<ReauthTiming> = {}): ReauthTiming {
  const t = { ...DEFAULT_REAUTH_TIMING, ...partial }
  const bad = (field: string, rule: string) =>
    new LatchError('LATCH_ERR_PAIRAUTH_BAD_ARGUMENT', `re-auth timing ${field} ${rule}`, { details: t })
  if (!(t.jitterFraction >= 0 && t.jitterFraction < t.reauthFraction)) {
    throw bad('jitterFraction', 'must be >= 0 and below reauthFraction')
  }
  if (!(t.reauthFraction > 0 && t.reauthFraction < t.responderFraction && t.responderFraction < 1)) {
    throw bad('reauthFraction/responderFraction', 'must satisfy 0 < reauth < responder < 1')
  }
  if (t.responderFraction - t.jitterFraction < t.reauthFraction) {
    throw bad('jitterFraction', 'must keep the responder window after the initiator window')
  }
  if (!(t.responderGraceMs >= 0 && t.retryBaseMs > 0 && t.retryMaxMs >= t.retryBaseMs)) {
    throw bad('responderGraceMs/retryBaseMs/retryMaxMs', 'must be >= 0, > 0 and >= retryBaseMs')
  }
  return Object.freeze(t)
}

/** When a pair first becomes desired. */
export function firstDialAt(now: number, initiator: boolean, t: ReauthTiming): number {
  return initiator ? now : now + t.responderGraceMs
}

/** When to re-authenticate a pair authenticated at `at` until `expiresAt`. */
export function reauthAt(
  at: number,
  expiresAt: number,
  initiator: boolean,
  t: ReauthTiming,
  random: () => number,
): number {
  const life = expiresAt - at
  if (life <= 0) return at
  const fraction = initiator ? t.reauthFraction : t.responderFraction
  return Math.round(at + life * fraction - random() * t.jitterFraction * life)
}

/** When to retry after the `failures`-th failure in a row (1 = first). */
export function retryAt(now: number, failures: number, t: ReauthTiming, random: () => number): number {
  const exp = Math.min(t.retryMaxMs, t.retryBaseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)))
  return Math.round(now + exp * (0.5 + random() / 2))
}

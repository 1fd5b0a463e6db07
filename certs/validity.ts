import { BACKDATE_MS } from './defaults.js'

export interface Validity {
  readonly notBefore: Date
  readonly notAfter: Date
}

/**
 * The validity window of a new certificate: from slightly before `now` (clock skew between nodes) for
 * `lifetimeMs`, but never past `cap` (a certificate must not outlive the CA that signed it).
 * X.509 times have whole seconds, so both ends are truncated to the second.
 */
export function validityWindow(lifetimeMs: number, now: Date = new Date(), cap?: Date): Validity {
  const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000)
  const end = now.getTime() + lifetimeMs
  return {
    notBefore: second(now.getTime() - BACKDATE_MS),
    notAfter: second(cap === undefined ? end : Math.min(end, cap.getTime())),
  }
}

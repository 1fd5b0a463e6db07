/**
 * What a server needs to build its GuardedListener (conn-guard.ts): the process's budget, this
 * listener's limits and where to report. Servers built without one (tests, tools) get a budget of
 * their own with the defaults.
 */
import { FdBudget, type GuardEvents, LIMIT_DEFAULTS, type ListenerLimits } from './conn-guard.js'

export interface GuardOptions {
  budget: FdBudget
  limits: ListenerLimits
  events?: GuardEvents
}

export function guardOrDefault(
  g: GuardOptions | undefined,
  listener: 'node' | 'pairAuth' | 'metrics',
  handshakeTimeoutMs: number,
): GuardOptions {
  if (g) return g
  return {
    budget: new FdBudget(LIMIT_DEFAULTS.maxUnauthenticated, LIMIT_DEFAULTS.reservedFds),
    limits: {
      ...LIMIT_DEFAULTS[listener],
      handshakeTimeoutMs,
      maxPreAuthBytes: LIMIT_DEFAULTS.maxPreAuthBytes,
    },
  }
}

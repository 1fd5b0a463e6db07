/**
 * The bounds of latchd's listeners from the config's `limits:` block: one FdBudget for the
 * process, the limits of each listener, and what a shed connection or a failed accept becomes
 * (a metric always; a log line at most once per PRESSURE_LOG_MS per listener and reason), and the
 * end of a period of pressure (one `pressure_over` line, then the memory the attack left is reclaimed).
 */
import type { Logger } from 'pino'
import { FdBudget, type GuardEvents } from '../base/conn-guard.js'
import type { GuardOptions } from '../base/guard-options.js'
import { reclaimMemory } from '../base/reclaim.js'
import type { Config } from '../config/schema.js'
import type { ControlGuard } from '../control/server.js'
import type { DaemonMetrics } from '../observe/metrics.js'
import { OncePer } from '../observe/once-per.js'

export const PRESSURE_LOG_MS = 10_000

export interface DaemonGuards {
  budget: FdBudget
  node: GuardOptions
  pairAuth: GuardOptions
  metrics: GuardOptions
  control: ControlGuard
}

export function daemonGuards(
  c: Config,
  logger: Logger,
  metrics: DaemonMetrics,
  timeouts: { nodeMs: number; pairAuthMs: number },
): DaemonGuards {
  const l = c.limits
  const budget = new FdBudget(l.maxUnauthenticated, l.reservedFds)
  const once = new OncePer(PRESSURE_LOG_MS)
  budget.onCalm((shed) => {
    const rssMb = Math.round(process.memoryUsage.rss() / 2 ** 20)
    logger.info(
      { event: 'pressure_over', shed, rssMb },
      `listeners calm again after ${shed} connections shed or refused; reclaiming memory`,
    )
    reclaimMemory().then(
      () => {
        const after = Math.round(process.memoryUsage.rss() / 2 ** 20)
        logger.info(
          { event: 'memory_reclaimed', rssMb: after },
          `memory reclaimed: ${rssMb} → ${after} MB resident`,
        )
      },
      (err: Error) =>
        logger.warn(
          { event: 'reclaim_failed', err: err.message },
          `reclaiming memory failed: ${err.message}`,
        ),
    )
  })
  const events: GuardEvents = {
    shed: (listener, reason, refused) => {
      metrics.connectionShed(listener, reason, refused)
      const t = once.take(`shed:${listener}:${reason}`)
      if (t)
        logger.warn(
          { event: 'connection_shed', listener, reason, refused, suppressed: t.suppressed },
          `${listener} listener: ${refused ? 'refused a new connection' : 'closed an unauthenticated connection'} (${reason})`,
        )
    },
    acceptError: (listener, err) => {
      metrics.acceptFailed(listener, err.code ?? 'unknown')
      const t = once.take(`accept:${listener}:${err.code}`)
      if (t)
        logger.error(
          { event: 'accept_failed', listener, code: err.code, suppressed: t.suppressed },
          `${listener} listener cannot accept: ${err.message}; refusing new connections until it can`,
        )
    },
  }
  const limits = (listener: { maxConnections: number; maxPerSource: number }, timeoutMs: number) => ({
    maxConnections: listener.maxConnections,
    maxPerSource: listener.maxPerSource,
    handshakeTimeoutMs: timeoutMs,
    maxPreAuthBytes: l.maxPreAuthBytes,
  })
  logger.info(
    { event: 'limits', unauthenticatedCap: budget.unauthenticatedCap, reservedFds: l.reservedFds },
    `listeners bounded: at most ${budget.unauthenticatedCap} unauthenticated connections, ${l.reservedFds} descriptors reserved`,
  )
  return {
    budget,
    node: { budget, events, limits: limits(l.node, timeouts.nodeMs) },
    pairAuth: { budget, events, limits: limits(l.pairAuth, timeouts.pairAuthMs) },
    metrics: { budget, events, limits: limits(l.metrics, l.handshakeTimeout) },
    control: { events, maxConnections: l.control.maxConnections, handshakeTimeoutMs: l.handshakeTimeout },
  }
}

/**
 * latchd assembled from its components (start-up.ts lists them in order: identity → engine
 * (WireGuard) → datapath → mesh → listener limits → inventory → handshake listener → discovery →
 * control socket → metrics → pair authentication → peering → trust lifecycle). `stop()` undoes them
 * in reverse but leaves WireGuard as it is, so the next daemon re-adopts the interface and its peers
 * without cutting traffic.
 */

import { asLatchError } from '../base/errors.js'
import { type Component, startComponents } from '../base/lifecycle.js'
import { loadConfig } from '../config/load.js'
import { formatEndpoint } from '../config/net.js'
import type { Config } from '../config/schema.js'
import type { Engine } from '../engine/index.js'
import type { ControlResponse } from '../wire/control.js'
import type { Mesh } from './mesh.js'
import type { PairService } from './pair-service.js'
import { type DaemonOptions, type DaemonParts, need } from './parts.js'
import { COMPONENTS } from './start-up.js'
import { daemonStatus } from './status.js'

export type { DaemonOptions } from './parts.js'

export interface Daemon {
  readonly config: Config
  readonly mesh: Mesh
  readonly engine: Engine
  /** The handshake listener's bound port (differs from config when it is 0). */
  readonly listenPort: number
  /** Identity-pair authentication; undefined without a policy file. */
  readonly pairs: PairService | undefined
  status(): Promise<ControlResponse>
  /**
   * SIGHUP / `systemctl reload`: re-read now the files latchd also watches (policy, peers file,
   * PKI and revocation list), each applied the way its hot reload applies it (an invalid file keeps
   * the one in force, nothing is torn down), and re-read `configFile`: a config that differs from
   * the running one is reported in `restartNeeded` (its keys), since only a restart applies it.
   */
  reload(configFile: string): Promise<ReloadResult>
  stop(): Promise<void>
}

export interface ReloadResult {
  /** Top-level config keys whose value differs from the running config (empty: nothing to restart for). */
  restartNeeded: string[]
  /** The config file could not be loaded (the running config stays): its error code. */
  configError?: string
}

export async function startDaemon(
  o: DaemonOptions,
  components: readonly Component<DaemonParts>[] = COMPONENTS,
): Promise<Daemon> {
  const { config: c, logger } = o
  const p: DaemonParts = { options: o, config: c, logger, startedAt: new Date() }
  const running = await startComponents(components, p, (f) =>
    logger.error(
      { event: 'stop_failed', component: f.component },
      `stopping ${f.component} after a failed start failed: ${(f.error as Error)?.message ?? f.error}`,
    ),
  )
  const wg = need(p.wireguard, 'WireGuard')
  const listenPort = need(p.listenPort, 'the handshake listener')
  logger.info(
    {
      event: 'started',
      listen: formatEndpoint(c.listen.address, listenPort),
      wgPublicKey: wg.publicKey,
      adopted: wg.adopted,
      peers: peersForLog(p.discovery?.peers ?? []),
      controlSocket: c.controlSocket,
    },
    `latchd ${c.node} listening on ${formatEndpoint(c.listen.address, listenPort)}${wg.adopted ? ' (adopted the existing WireGuard interface)' : ''}`,
  )

  p.ready = true // status `ready`
  if (p.metrics) p.metrics.ready = true // /readyz
  let stopping: Promise<void> | undefined
  return {
    config: c,
    mesh: need(p.mesh, 'the mesh'),
    engine: need(p.engine, 'the engine'),
    listenPort,
    pairs: p.pairs,
    status: () => daemonStatus(p),
    async reload(configFile) {
      await Promise.all([p.pairs?.reloadPolicy(), p.discovery?.reload?.(), p.trust?.reload()])
      let next: Config
      try {
        next = await loadConfig(configFile)
      } catch (err) {
        const e = asLatchError(err)
        logger.error({ event: 'config_reload_failed', code: e.code }, `kept the running config: ${e.message}`)
        return { restartNeeded: [], configError: e.code }
      }
      const restartNeeded = changedKeys(c, next)
      logger.info(
        { event: 'reloaded', restartNeeded },
        restartNeeded.length === 0
          ? 'reloaded policy, peers and PKI files'
          : `reloaded policy, peers and PKI files; config keys ${restartNeeded.join(', ')} changed and take effect on a restart (systemctl restart latchd keeps traffic flowing)`,
      )
      return { restartNeeded }
    },
    stop() {
      stopping ??= (async () => {
        p.ready = false
        if (p.metrics) p.metrics.ready = false
        const failures = await running.stop()
        for (const f of failures) {
          logger.error(
            { event: 'stop_failed', component: f.component },
            `stopping ${f.component} failed: ${(f.error as Error)?.message ?? f.error}`,
          )
        }
        logger.info({ event: 'stopped' }, 'latchd stopped; WireGuard left in place for the next start')
        if (failures[0]) throw failures[0].error
      })()
      return stopping
    },
  }
}

/** Top-level keys whose values differ between two loaded configs. */
function changedKeys(a: Config, b: Config): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  const ra = a as unknown as Record<string, unknown>
  const rb = b as unknown as Record<string, unknown>
  return [...keys].filter((k) => JSON.stringify(ra[k]) !== JSON.stringify(rb[k])).sort()
}

/** The started log line names the peers, or only counts them in a large fleet. */
function peersForLog(peers: readonly { name: string }[]): string[] | number {
  return peers.length <= 50 ? peers.map((peer) => peer.name) : peers.length
}

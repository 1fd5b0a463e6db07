/**
 * latchd assembled from its components (start-up.ts lists them in order: identity → engine
 * (WireGuard) → datapath → mesh → listener limits → inventory → handshake listener → discovery →
 * control socket → metrics → pair authentication → peering → trust lifecycle). `stop()` undoes them
 * in reverse but leaves WireGuard as it is, so the next daemon re-adopts the interface and its peers
 * without cutting traffic.
 */
import { type Component, startComponents } from '../base/lifecycle.js'
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
  stop(): Promise<void>
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

  let stopping: Promise<void> | undefined
  return {
    config: c,
    mesh: need(p.mesh, 'the mesh'),
    engine: need(p.engine, 'the engine'),
    listenPort,
    pairs: p.pairs,
    status: () => daemonStatus(p),
    stop() {
      stopping ??= (async () => {
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

/** The started log line names the peers, or only counts them in a large fleet. */
function peersForLog(peers: readonly { name: string }[]): string[] | number {
  return peers.length <= 50 ? peers.map((peer) => peer.name) : peers.length
}

/**
 * The mesh of peer state machines (and the metrics that read it). It starts with no peers: the last
 * component hands it the discovered ones once every listener is up.
 */
import { systemClock } from '../../base/clock.js'
import type { Component } from '../../base/lifecycle.js'
import { formatEndpoint } from '../../config/net.js'
import { dialPeer } from '../../handshake/client.js'
import { DEFAULT_TIMING } from '../../handshake/timing.js'
import type { LocalNode } from '../../handshake/types.js'
import { DaemonMetrics } from '../../observe/metrics.js'
import { Mesh } from '../mesh.js'
import { type DaemonParts, need } from '../parts.js'

export const meshComponent: Component<DaemonParts> = {
  name: 'mesh',
  start(p) {
    const c = p.config
    const o = p.options
    const identity = need(p.identity, 'the identity')
    const engine = need(p.engine, 'the engine')
    const wg = need(p.wireguard, 'WireGuard')
    const datapath = p.datapath
    const registry = need(p.workloads, 'the workloads')
    const local: LocalNode = {
      node: c.node,
      trustDomain: c.trustDomain,
      rootPem: identity.rootPem,
      certPem: identity.certPem,
      keyPem: identity.keyPem,
      intermediatePem: identity.intermediatePem,
      wgPublicKey: wg.publicKey,
      endpoint: formatEndpoint(c.listen.address, c.wireguard.listenPort),
      tunnelAddress: c.wireguard.address,
      workloadCidrs: [...c.workloadCidrs],
      workloads: registry.inventory(),
      revocations: need(p.revocations, 'the revocation list'),
    }
    const timing = o.timing ?? { ...DEFAULT_TIMING, handshakeTimeoutMs: c.limits.handshakeTimeout }
    const metrics = new DaemonMetrics({
      peerStates: () => p.mesh?.stateCounts() ?? {},
      wireguardBytes: async () => {
        const names = new Map((p.mesh?.snapshot() ?? []).map((s) => [s.wgPublicKey, s.name]))
        const st = await engine.status()
        return st.peers.map((s) => ({
          peer: names.get(s.publicKey) ?? s.name ?? s.publicKey,
          rxBytes: s.rxBytes,
          txBytes: s.txBytes,
        }))
      },
      ...(datapath && { datapath: () => datapath.report() }),
      listeners: () => [
        ...(p.handshake ? [{ listener: 'node', ...p.handshake.counts() }] : []),
        ...(p.pairs?.listenerCounts() ?? []),
        ...(p.metricsServer ? [{ listener: 'metrics', ...p.metricsServer.counts() }] : []),
      ],
    })
    p.timing = timing
    p.local = local
    p.metrics = metrics
    p.mesh = new Mesh({
      self: c.node,
      trustDomain: c.trustDomain,
      dial: (peer) => dialPeer({ local, peer, timing }),
      engine,
      clock: o.clock ?? systemClock,
      rekeyIntervalMs: c.rekeyInterval,
      gracePeriodMs: c.peerGracePeriod,
      logger: p.logger,
      metrics,
      ...(o.backoff && { backoff: o.backoff }),
      inventory: () => registry.inventory(),
      onSessionsChanged: () => {
        p.pairs?.refresh()
        p.inventory?.trigger()
      },
    })
  },
  stop(p) {
    p.mesh?.stop(false)
  },
}

/** Where peers come from: the peers file, or etcd (this node registers its bound handshake port). */

import { certFingerprint } from '../../../certs/fingerprint.js'
import type { Component } from '../../base/lifecycle.js'
import { createDiscovery } from '../../discovery/create.js'
import type { Discovery } from '../../discovery/types.js'
import { type DaemonParts, need } from '../parts.js'

export const discoveryComponent: Component<DaemonParts> = {
  name: 'discovery',
  async start(p) {
    const { config: c, logger } = p
    const m = need(p.mesh, 'the mesh')
    const peers: Discovery = await createDiscovery({
      config: c,
      logger,
      self: {
        address: c.listen.address,
        port: need(p.listenPort, 'the handshake listener'),
        fingerprint: certFingerprint(need(p.identity, 'the identity').certPem),
      },
      onChange: (list) => {
        if (!p.peering) return // the list in force when start-up ends is applied by the peering component
        logger.info(
          { event: 'peers_reloaded', backend: peers.backend, peers: list.length },
          `${peers.backend === 'file' ? 'peers file reloaded' : 'etcd registrations changed'} (${list.length} peers)`,
        )
        m.setPeers(list)
      },
      onError: (err) =>
        logger.error({ event: 'peers_rejected', code: err.code }, `kept the previous peers: ${err.message}`),
    })
    await peers.start().catch(async (err) => {
      await peers.stop()
      throw err
    })
    p.discovery = peers
  },
  async stop(p) {
    await p.discovery?.stop()
  },
}

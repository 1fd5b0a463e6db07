/**
 * PKI hot reload, revocation and expiry (daemon/node/trust-lifecycle.ts): watches the PKI files and
 * the revocation list once the node runs, and applies an accepted new set to every part that holds
 * credentials (daemon/node/trust-wiring.ts).
 */
import type { Component } from '../../base/lifecycle.js'
import { type DaemonParts, need } from '../parts.js'
import { TrustLifecycle } from '../trust-lifecycle.js'
import { applyTrust } from '../trust-wiring.js'

export const trustComponent: Component<DaemonParts> = {
  name: 'trust lifecycle',
  async start(p) {
    const local = need(p.local, 'the local node')
    const server = need(p.handshake, 'the handshake listener')
    const mesh = need(p.mesh, 'the mesh')
    const trust = new TrustLifecycle({
      config: p.config,
      logger: p.logger,
      initial: {
        ...need(p.identity, 'the identity'),
        revocations: need(p.revocations, 'the revocation list'),
      },
      registry: need(p.metrics, 'the metrics').registry,
      apply: (next, _prev, changed) =>
        applyTrust({ local, server, mesh, pairs: () => p.pairs, logger: p.logger }, next, changed),
    })
    p.trust = trust
    await trust.start()
  },
  stop(p) {
    p.trust?.stop()
  },
}

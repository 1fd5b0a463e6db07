/**
 * This node's identity (root, node certificate and key, intermediate) and the revocation list;
 * problems are logged loudly.
 */
import type { Component } from '../../base/lifecycle.js'
import { loadLocalIdentity } from '../local-identity.js'
import type { DaemonParts } from '../parts.js'
import { loadRevocations } from '../trust-lifecycle.js'

export const identityComponent: Component<DaemonParts> = {
  name: 'identity',
  async start(p) {
    p.identity = await loadLocalIdentity(p.config)
    p.revocations = await loadRevocations(p.config)
    for (const problem of p.identity.problems) {
      p.logger.error({ event: 'identity_problem' }, `peers will refuse this node: ${problem}`)
    }
  },
}

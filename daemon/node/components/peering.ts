/** Last: hand the mesh the discovered peers, so it dials only once every listener is up. */
import type { Component } from '../../base/lifecycle.js'
import { type DaemonParts, need } from '../parts.js'

export const peeringComponent: Component<DaemonParts> = {
  name: 'peering',
  start(p) {
    need(p.mesh, 'the mesh').setPeers(need(p.initialPeers, 'the discovered peers'))
  },
}

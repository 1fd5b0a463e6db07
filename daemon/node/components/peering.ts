/**
 * Hand the mesh the discovered peers, so it dials only once every listener is up. Changes discovery
 * saw during start-up are not lost: the list in force now is applied, and later ones follow.
 */
import type { Component } from '../../base/lifecycle.js'
import { type DaemonParts, need } from '../parts.js'

export const peeringComponent: Component<DaemonParts> = {
  name: 'peering',
  start(p) {
    p.peering = true
    need(p.mesh, 'the mesh').setPeers(need(p.discovery, 'discovery').peers)
  },
  stop(p) {
    p.peering = false
  },
}

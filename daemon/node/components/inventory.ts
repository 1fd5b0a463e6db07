/**
 * One writer of remote ipcache entries: with a policy, pair authentication (from the IP SANs of the
 * SVIDs that authenticated); without one, the peers' inventories (checked against name constraints).
 */
import type { Component } from '../../base/lifecycle.js'
import { InventorySync } from '../../engine/datapath-inventory.js'
import type { PeerInventory } from '../../engine/index.js'
import { type DaemonParts, need } from '../parts.js'
import type { PeerSnapshot } from '../peer.js'

/** A peer crossing from node/ (its state) to the engine (its inventory). */
export function inventoryOf(s: PeerSnapshot): PeerInventory {
  return { tunnel: s.tunnel, ...(s.workloads && { workloads: s.workloads }) }
}

export const inventoryComponent: Component<DaemonParts> = {
  name: 'inventory',
  start(p) {
    const mesh = need(p.mesh, 'the mesh')
    if (p.datapath && p.config.policyFile === undefined)
      p.inventory = new InventorySync(p.datapath, () => mesh.snapshot().map(inventoryOf), p.logger)
  },
  stop(p) {
    p.inventory?.stop()
  },
}

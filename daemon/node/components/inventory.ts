/**
 * One writer of remote ipcache entries: with a policy, pair authentication (from the IP SANs of the
 * SVIDs that authenticated); without one, the peers' inventories (checked against name constraints).
 */
import type { Component } from '../../base/lifecycle.js'
import { InventorySync } from '../../engine/datapath-inventory.js'
import { type DaemonParts, need } from '../parts.js'

export const inventoryComponent: Component<DaemonParts> = {
  name: 'inventory',
  start(p) {
    const mesh = need(p.mesh, 'the mesh')
    if (p.datapath && p.config.policyFile === undefined)
      p.inventory = new InventorySync(p.datapath, () => mesh.snapshot(), p.logger)
  },
  stop(p) {
    p.inventory?.stop()
  },
}

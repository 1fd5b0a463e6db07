/**
 * Local workloads (node/workload-registry.ts): `workloadsComponent` reads the runtime registrations
 * before the datapath, mesh and pair authentication start (they program them with the config's
 * `workloads:`), dropping those whose interface vanished while latchd was down;
 * `workloadRegistrationComponent` hands the registry the parts it drives once they run, and from then
 * on workload_add / workload_remove requests (queued until now) are served.
 */
import type { Component } from '../../base/lifecycle.js'
import { systemInterfaces } from '../../engine/interfaces.js'
import { type DaemonParts, need } from '../parts.js'
import { WorkloadRegistry } from '../workload-registry.js'

export const workloadsComponent: Component<DaemonParts> = {
  name: 'workloads',
  async start(p) {
    const registry = new WorkloadRegistry(p.config, p.logger, systemInterfaces)
    await registry.load()
    p.workloads = registry
  },
}

export const workloadRegistrationComponent: Component<DaemonParts> = {
  name: 'workload registration',
  start(p) {
    const local = need(p.local, 'the local node')
    const mesh = need(p.mesh, 'the mesh')
    need(p.workloads, 'the workloads').bind({
      datapath: p.datapath,
      pairs: p.pairs,
      announce: (workloads) => {
        local.workloads = workloads
        mesh.announceInventory(workloads)
      },
    })
  },
}

/** The eBPF datapath: load or adopt the pins, attach to local workloads (nothing when disabled). */
import type { Component } from '../../base/lifecycle.js'
import { startNodeDatapath } from '../../engine/datapath-start.js'
import { type DaemonParts, need } from '../parts.js'

export const datapathComponent: Component<DaemonParts> = {
  name: 'datapath',
  start(p) {
    p.datapath = startNodeDatapath(p.config, p.logger, need(p.workloads, 'the workloads').datapathWorkloads())
    p.identityDatapath = p.options.datapath ?? p.datapath
  },
  stop(p) {
    p.datapath?.close()
  },
}

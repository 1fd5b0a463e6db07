/** The lab: a mesh of nodes and workloads in namespaces on one machine (DESIGN §8, README "Lab"). */
export { type DownReport, findLeftovers, type Leftovers, labDown } from './down.js'
export { labCommand, labTarget } from './exec.js'
export * from './plan.js'
export { type LabStatus, labStatus, type NodeStatus } from './status.js'
export { formatLabStatus, formatPeer } from './status-format.js'
export { setUnderlayRoutes, UNDERLAY_LINK, underlayRouteLines } from './underlay-routes.js'
export { type DaemonReport, labUp, type UpOptions, type UpReport } from './up.js'
export { LAB_TUNNEL_MTU, setWorkloadRouteMtu, workloadRouteLine } from './workload-mtu.js'

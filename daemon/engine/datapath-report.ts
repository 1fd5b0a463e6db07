/** The pure helpers of datapath.ts (the report's types are in wire/status.ts). */
import type { IpcacheEntry } from '../datapath/index.js'

/** A local workload's ipcache entries: one host prefix per address, required ingress = its veth. */
export function workloadIpcache(ips: readonly string[], identity: number, ifindex: number): IpcacheEntry[] {
  return ips.map((ip) => ({ prefix: ip, identity, scope: 'local' as const, ifindex }))
}

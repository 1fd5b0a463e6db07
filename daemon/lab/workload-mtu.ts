/**
 * The MTU of a workload's default route, the way a CNI gives pods the tunnel's MTU: with WireGuard
 * between nodes (latch0: 1420) a workload whose route says 1500 relies on path-MTU discovery for
 * anything larger. Off by default; `lab up` never sets it (the benchmark does for its latch setup).
 * Rendering is pure; applying is one `ip -batch` per workload.
 */

import { type LabWorkload, WORKLOAD_GATEWAY } from './plan.js'
import { run } from './run.js'

/** MTU of the lab's WireGuard interface as wireguard-go creates it (1500 − 80 bytes of overhead). */
export const LAB_TUNNEL_MTU = 1420

/** The workload's default route (as the lab builds it), with `mtu` or without one. */
export function workloadRouteLine(mtu: number | undefined): string {
  return `route replace default via ${WORKLOAD_GATEWAY} dev eth0 onlink${mtu === undefined ? '' : ` mtu ${mtu}`}`
}

/** Sets (or, with undefined, clears) the route MTU of each workload. */
export async function setWorkloadRouteMtu(workloads: LabWorkload[], mtu: number | undefined): Promise<void> {
  await Promise.all(
    workloads.map((w) => run('ip', ['-n', w.netns, '-batch', '-'], { input: `${workloadRouteLine(mtu)}\n` })),
  )
}

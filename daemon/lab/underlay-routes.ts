/**
 * Plain underlay routes between the nodes' workload CIDRs: with them (and no latchd), node1-w1
 * reaches node2-w1 in plaintext over the underlay bridge, the "latch off" baseline the benchmarks
 * compare against. Off by default; `lab up` never adds them. They would shadow the routes latchd
 * programs through WireGuard, so they are refused while a latchd runs and must be removed before
 * daemons start. Rendering is pure; applying is one `ip -batch` per node.
 */
import { LatchError } from '../base/errors.js'
import { findDaemon } from './daemons.js'
import { netnsPath } from './netns.js'
import type { LabNode, LabPlan } from './plan.js'
import { processesIn } from './procs.js'
import { run } from './run.js'

/** The node-side underlay link (README "Lab": node i's eth0 = 10.99.0.<10+i>/24). */
export const UNDERLAY_LINK = 'eth0'

/** `ip -batch` lines of `node`: a route to each workload CIDR of every other node via its underlay IP. */
export function underlayRouteLines(plan: LabPlan, node: LabNode, on: boolean): string[] {
  return plan.nodes
    .filter((n) => n.name !== node.name)
    .flatMap((n) =>
      n.workloadCidrs.map(
        (c) => `route ${on ? 'replace' : 'del'} ${c} via ${n.underlayIp} dev ${UNDERLAY_LINK}`,
      ),
    )
}

/**
 * Adds (`on`) or removes the plain underlay routes on every node. Removing routes that are not
 * there is not an error. Returns one line per node changed.
 */
export async function setUnderlayRoutes(plan: LabPlan, on: boolean): Promise<string[]> {
  if (on) {
    const procs = await processesIn(plan.nodes.map((n) => netnsPath(n.netns)))
    const running = plan.nodes.filter((n) => findDaemon(n, procs) !== undefined).map((n) => n.name)
    if (running.length > 0) {
      throw new LatchError(
        'LATCH_ERR_LAB_PLAIN_WITH_DAEMONS',
        `plain underlay routes would bypass latch, but latchd runs on ${running.join(', ')}`,
        { details: { running } },
      )
    }
  }
  await Promise.all(
    plan.nodes.map((node) =>
      run('ip', ['-n', node.netns, ...(on ? [] : ['-force']), '-batch', '-'], {
        input: `${underlayRouteLines(plan, node, on).join('\n')}\n`,
        allowFailure: !on,
      }),
    ),
  )
  return plan.nodes.map((n) => `${on ? 'added' : 'removed'} plain underlay routes on ${n.name}`)
}

/**
 * `latchctl lab status`: the lab as found on the machine: every node and workload with its
 * addresses, whether its namespaces exist, its latchd (PID, alive, control socket) and — when the
 * daemon answers — the daemon's own `latchctl status --json`.
 */
import { existsSync } from 'node:fs'
import { execa } from 'execa'
import { scaled } from '../base/time-scale.js'
import { distEntry, findDaemon } from './daemons.js'
import { listNetns, netnsPath } from './netns.js'
import { LAB_NETNS_PATTERN, type LabPlan, labPlan, UNDERLAY_BRIDGE, UNDERLAY_NETNS } from './plan.js'
import { processesIn } from './procs.js'
import { readState } from './state.js'

export interface NodeStatus {
  name: string
  netns: string
  present: boolean
  underlayIp: string
  tunnelAddress: string
  /** The static workloads' CIDR. */
  workloadCidr: string
  /** The CNI workloads' CIDR (`lab workload add`, host-local's range). */
  cniCidr: string
  log: string
  latchd: { pid?: number; alive: boolean; socket: boolean }
  /** The daemon's `latchctl status --json`, or why it is not there. */
  daemon?: unknown
  daemonError?: string
  workloads: Array<{
    name: string
    netns: string
    present: boolean
    ip: string
    interface: string
    spiffeId: string
  }>
}

export interface LabStatus {
  up: boolean
  size?: LabPlan['size']
  rekeyInterval?: string
  trustDomain?: string
  underlay?: { netns: string; bridge: string; present: boolean }
  nodes: NodeStatus[]
  /** Lab namespaces found that the recorded size does not account for. */
  strays: string[]
}

export async function labStatus(): Promise<LabStatus> {
  const [state, netns] = await Promise.all([readState(), listNetns(LAB_NETNS_PATTERN)])
  if (!state) return { up: false, nodes: [], strays: netns }
  const plan = labPlan(state.size)
  const present = new Set(netns)
  const procs = await processesIn(plan.nodes.map((n) => netnsPath(n.netns)))
  const nodes = await Promise.all(
    plan.nodes.map(async (n): Promise<NodeStatus> => {
      const d = findDaemon(n, procs)
      const socket = existsSync(n.controlSocket)
      const status: NodeStatus = {
        name: n.name,
        netns: n.netns,
        present: present.has(n.netns),
        underlayIp: n.underlayIp,
        tunnelAddress: n.tunnelAddress,
        workloadCidr: n.workloadCidr,
        cniCidr: n.cniCidr,
        log: n.logFile,
        latchd: { ...(d ? { pid: d.pid } : {}), alive: d !== undefined, socket },
        workloads: n.workloads.map((w) => ({
          name: w.name,
          netns: w.netns,
          present: present.has(w.netns),
          ip: w.ip,
          interface: w.hostInterface,
          spiffeId: w.spiffeId,
        })),
      }
      if (d && socket) Object.assign(status, await daemonStatus(n.controlSocket))
      return status
    }),
  )
  const known = new Set([
    UNDERLAY_NETNS,
    ...plan.nodes.flatMap((n) => [n.netns, ...n.workloads.map((w) => w.netns)]),
  ])
  return {
    up: true,
    size: state.size,
    rekeyInterval: state.rekeyInterval,
    trustDomain: plan.trustDomain,
    underlay: { netns: UNDERLAY_NETNS, bridge: UNDERLAY_BRIDGE, present: present.has(UNDERLAY_NETNS) },
    nodes,
    strays: netns.filter((n) => !known.has(n)),
  }
}

/** Asks the node's daemon through the compiled `latchctl status --json --socket`. */
async function daemonStatus(socket: string): Promise<{ daemon?: unknown; daemonError?: string }> {
  let latchctl: string
  try {
    latchctl = distEntry('latchctl')
  } catch (err) {
    return { daemonError: err instanceof Error ? err.message : String(err) }
  }
  const r = await execa(process.execPath, [latchctl, 'status', '--json', '--socket', socket], {
    reject: false,
    timeout: scaled(5000),
  })
  if (r.exitCode === 0) {
    try {
      return { daemon: JSON.parse(r.stdout) as unknown }
    } catch {
      return { daemonError: 'latchctl status --json printed no JSON' }
    }
  }
  const why = (r.stderr || r.stdout || r.message || '').trim().split('\n')[0] ?? ''
  return { daemonError: `latchctl status failed (exit ${r.exitCode ?? 'none'}): ${why}` }
}

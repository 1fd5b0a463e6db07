/**
 * The lab in the shapes the benchmark needs, one after the other in one run:
 *   latch off  — lab without latchd, plain underlay routes between the nodes' workload CIDRs
 *                (plaintext, and the sidecar proxies on top of it);
 *   latch on   — the routes removed, one latchd per node with eBPF enforcement (--enforce).
 * A lab that is up with daemons (or too small) is taken down first and put back up with its
 * settings at the end; a lab the benchmark brought up is taken down at the end.
 */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { labDown, labUp, setUnderlayRoutes } from '../../daemon/lab/index.js'
import { type LabPlan, labPlan } from '../../daemon/lab/plan.js'
import { readState } from '../../daemon/lab/state.js'

/** node1-w1 → node2-w1 is the measured path; node1-w2 is the newly allowed pair's client. */
export const BENCH_NODES = 2
export const BENCH_WORKLOADS = 2

export interface PreviousLab {
  nodes: number
  workloads: number
  daemons: boolean
  enforce: boolean
  rekeyInterval: string
}

export interface LabSession {
  plan: LabPlan
  /** The lab that was up before the benchmark, restored at the end; undefined: none was up. */
  previous: PreviousLab | undefined
  log: (line: string) => void
}

async function enforcing(plan: LabPlan): Promise<boolean> {
  const file = plan.nodes[0]?.configFile
  const text = file ? await readFile(file, 'utf8').catch(() => '') : ''
  const cfg = (parse(text) ?? {}) as { datapath?: { enabled?: boolean } }
  return cfg.datapath?.enabled === true
}

/**
 * Looks at the machine without changing it: the lab that is up (restored at the end), if any.
 * Create the session before touching the lab, so an interrupted run still knows what to restore.
 */
export async function labSession(log: (line: string) => void): Promise<LabSession> {
  const state = await readState()
  const previous: PreviousLab | undefined = state && {
    nodes: state.size.nodes,
    workloads: state.size.workloads,
    daemons: state.daemons,
    enforce: await enforcing(labPlan(state.size)),
    rekeyInterval: state.rekeyInterval,
  }
  return { plan: labPlan({ nodes: BENCH_NODES, workloads: BENCH_WORKLOADS }), previous, log }
}

/** Brings the lab to "latch off" (plaintext routes, no latchd). */
export async function labLatchOff(s: LabSession): Promise<void> {
  const p = s.previous
  if (p && (p.daemons || p.nodes !== BENCH_NODES || p.workloads !== BENCH_WORKLOADS)) {
    s.log(
      `a lab is up (${p.nodes}×${p.workloads}, ${p.daemons ? 'with' : 'without'} latchd): taking it down; it is put back at the end`,
    )
    await labDown()
  }
  const up = await labUp({ nodes: BENCH_NODES, workloads: BENCH_WORKLOADS, daemons: false })
  await setUnderlayRoutes(up.plan, true)
  s.log(`lab up: ${BENCH_NODES} nodes × ${BENCH_WORKLOADS} workloads, no latchd, plain underlay routes`)
}

/** The wireguard-go a latch setup runs (scripts/benchmark/transports.ts). */
export interface LatchTransport {
  wireguardGo: string
  offloads: boolean
}

/** From "latch off" to the real mesh: routes removed, latchd with enforcement on every node. */
export async function labLatchOn(s: LabSession, t: LatchTransport): Promise<void> {
  await setUnderlayRoutes(s.plan, false)
  const r = await labUp({
    daemons: true,
    enforce: true,
    wireguardGo: t.wireguardGo,
    userspaceOffloads: t.offloads,
  })
  s.log(
    `latchd up on ${r.daemons.map((d) => `${d.node} (pid ${d.pid})`).join(', ')} with --enforce, ${t.wireguardGo}${t.offloads ? '' : ' (offloads off)'}`,
  )
}

/**
 * The next latch setup of the same run: the lab is taken down (latchd, wireguard-go and the TUNs
 * go; an adopted interface would keep the previous build) and brought up again with `t`. Processes
 * the benchmark started in the lab must be stopped before and started again after.
 */
export async function labLatchSwitch(s: LabSession, t: LatchTransport): Promise<void> {
  await labDown()
  const r = await labUp({
    nodes: BENCH_NODES,
    workloads: BENCH_WORKLOADS,
    daemons: true,
    enforce: true,
    wireguardGo: t.wireguardGo,
    userspaceOffloads: t.offloads,
  })
  s.log(
    `lab re-created; latchd up on ${r.daemons.map((d) => `${d.node} (pid ${d.pid})`).join(', ')} with --enforce, ${t.wireguardGo}${t.offloads ? '' : ' (offloads off)'}`,
  )
}

/** Leaves the machine as it was: down if the benchmark brought the lab up, else the old lab back. */
export async function labRestore(s: LabSession): Promise<void> {
  await labDown()
  if (!s.previous) {
    s.log('lab down (the benchmark brought it up)')
    return
  }
  const p = s.previous
  await labUp({
    nodes: p.nodes,
    workloads: p.workloads,
    daemons: p.daemons,
    enforce: p.enforce,
    rekeyInterval: p.rekeyInterval,
  })
  s.log(
    `lab restored: ${p.nodes}×${p.workloads}${p.daemons ? ', latchd' : ''}${p.enforce ? ' --enforce' : ''}`,
  )
}

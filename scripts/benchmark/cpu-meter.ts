/**
 * CPU used by "all processes of a setup" over a phase: every process in the lab's namespaces
 * (latchd, wireguard-go, haproxy, iperf3 server, echo server, …) plus the load tools this process
 * ran and waited for (they are its children: their time lands in our cutime/cstime when they exit),
 * and, separately, the machine's kernel time (system + irq/softirq) from /proc/stat.
 */
import { netnsPath } from '../../daemon/lab/netns.js'
import type { LabPlan } from '../../daemon/lab/plan.js'
import { processesIn } from '../../daemon/lab/procs.js'
import { type MachineCpu, machineCpu, procCpu } from './procfs.js'

export interface CpuSnapshot {
  at: number
  procs: Map<number, { comm: string; cpu: number }>
  selfChildren: number
  machine: MachineCpu
}

export interface CpuDelta {
  wallSeconds: number
  /** Seconds of CPU of the setup's processes, all together. */
  processSeconds: number
  /** The same split by command name (wireguard-go, latchd, haproxy, iperf3, node, …). */
  byCommand: Record<string, number>
  /** Machine-wide kernel time in the phase (not per process): system and irq+softirq. */
  kernelSystemSeconds: number
  kernelIrqSeconds: number
}

export function labNamespaceFiles(plan: LabPlan): string[] {
  return plan.nodes.flatMap((n) => [netnsPath(n.netns), ...n.workloads.map((w) => netnsPath(w.netns))])
}

/** A readable name for a process: node programs by their script (latchd, echo-server, client). */
function label(comm: string, cmdline: string[]): string {
  if (comm !== 'node') return comm
  const script = cmdline.find((a) => /\.(js|ts)$/.test(a) && !a.includes('node_modules'))
  return script
    ? (script
        .split('/')
        .pop()
        ?.replace(/\.(js|ts)$/, '') ?? comm)
    : comm
}

export async function snapshot(nsFiles: string[]): Promise<CpuSnapshot> {
  const list = await processesIn(nsFiles)
  const procs = new Map<number, { comm: string; cpu: number }>()
  const cpus = await Promise.all(list.map((p) => procCpu(p.pid)))
  for (const [i, c] of cpus.entries())
    if (c) procs.set(c.pid, { comm: label(c.comm, list[i]!.cmdline), cpu: c.cpu })
  const self = await procCpu(process.pid)
  return { at: performance.now(), procs, selfChildren: self?.children ?? 0, machine: await machineCpu() }
}

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): CpuDelta {
  const byCommand: Record<string, number> = {}
  let total = 0
  for (const [pid, after] of b.procs) {
    const d = after.cpu - (a.procs.get(pid)?.cpu ?? 0)
    if (d <= 0) continue
    byCommand[after.comm] = (byCommand[after.comm] ?? 0) + d
    total += d
  }
  const children = b.selfChildren - a.selfChildren
  if (children > 0) {
    byCommand['load tools (exited)'] = (byCommand['load tools (exited)'] ?? 0) + children
    total += children
  }
  return {
    wallSeconds: (b.at - a.at) / 1000,
    processSeconds: total,
    byCommand,
    kernelSystemSeconds: b.machine.system - a.machine.system,
    kernelIrqSeconds: b.machine.irq - a.machine.irq,
  }
}

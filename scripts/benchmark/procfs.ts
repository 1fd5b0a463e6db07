/**
 * CPU and memory accounting from /proc: per-process utime+stime, the machine's system/irq/softirq
 * time from /proc/stat, and a process's peak RSS (VmHWM). Times are seconds (USER_HZ = 100 on
 * Linux; the kernel reports /proc times in clock ticks of that rate on every architecture).
 */
import { readFile } from 'node:fs/promises'

const TICKS_PER_SECOND = 100

/** Fields after the parenthesised comm, which may itself contain ") ". */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}

export interface ProcCpu {
  pid: number
  comm: string
  /** utime + stime, seconds. */
  cpu: number
  /** cutime + cstime of waited-for children, seconds. */
  children: number
}

export async function procCpu(pid: number): Promise<ProcCpu | undefined> {
  const [stat, comm] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined),
    readFile(`/proc/${pid}/comm`, 'utf8').catch(() => ''),
  ])
  if (stat === undefined) return undefined
  // fields (1-based, man 5 proc): 14 utime, 15 stime, 16 cutime, 17 cstime; statFields starts at 3
  const f = statFields(stat)
  const n = (i: number) => Number(f[i - 3] ?? 0)
  return {
    pid,
    comm: comm.trim(),
    cpu: (n(14) + n(15)) / TICKS_PER_SECOND,
    children: (n(16) + n(17)) / TICKS_PER_SECOND,
  }
}

/** utime + stime summed over `pids`, seconds (a process that is gone counts 0). */
export async function cpuSecondsOf(pids: readonly number[]): Promise<number> {
  const cpus = await Promise.all(pids.map(procCpu))
  return cpus.reduce((sum, c) => sum + (c?.cpu ?? 0), 0)
}

export interface MachineCpu {
  /** Kernel time outside interrupts, summed over CPUs, seconds. */
  system: number
  /** hard + soft interrupt time, seconds (packet processing lands mostly in softirq). */
  irq: number
  total: number
}

export function parseProcStat(text: string): MachineCpu {
  const line = text.split('\n').find((l) => l.startsWith('cpu '))
  if (!line) throw new Error('/proc/stat has no "cpu " line')
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const at = (i: number) => v[i] ?? 0
  return {
    system: at(2) / TICKS_PER_SECOND,
    irq: (at(5) + at(6)) / TICKS_PER_SECOND,
    total: v.slice(0, 8).reduce((a, b) => a + b, 0) / TICKS_PER_SECOND,
  }
}

export async function machineCpu(): Promise<MachineCpu> {
  return parseProcStat(await readFile('/proc/stat', 'utf8'))
}

/** A `Vm…: N kB` line of /proc/<pid>/status in kB, undefined when the process is gone. */
export async function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number | undefined> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined)
  const m = text?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  return m ? Number(m[1]) : undefined
}

/**
 * Polling and process facts shared by the e2e tests and the lab benchmarks.
 *
 *   const session = await until('node1 to log a session', async () => findSession(), 30_000)
 */
import { readdir, readFile } from 'node:fs/promises'
import { scaled } from '../../../daemon/base/time-scale.js'

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Calls `f` every `every` ms until it returns something other than undefined or false, and returns
 * that. An error thrown by `f` counts as "not yet"; the last one is named if time runs out. The
 * deadline `ms` is stretched by LATCH_TIME_SCALE (the real-kernel lane).
 */
export async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  ms = 60_000,
  every = 200,
): Promise<T> {
  const limit = scaled(ms)
  const end = Date.now() + limit
  let last: unknown
  for (;;) {
    try {
      const v = await f()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${limit} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      )
    await sleep(every)
  }
}

/** The lab's daemon PIDs by node name (/run/latch-lab/lab.json). */
export async function labPids(): Promise<Record<string, number>> {
  return (JSON.parse(await readFile('/run/latch-lab/lab.json', 'utf8')) as { pids: Record<string, number> })
    .pids
}

export async function openFiles(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length
}

/** utime + stime of the processes, in seconds (/proc/PID/stat, USER_HZ 100). */
export async function cpuSeconds(...pids: number[]): Promise<number> {
  let ticks = 0
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // the fields after the ")" of the command name: utime is field 14, stime 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / 100
}

/** One line of latchd's pino log, the fields the tests read. */
export interface LogLine {
  time: string
  event?: string
  peer?: string
  rotation?: boolean
  msg?: string
  err?: string
  durationMs?: number
  code?: string
}

/** Every JSON line of a latchd log file. */
export async function logLines(file: string): Promise<LogLine[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
}

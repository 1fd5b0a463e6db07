/**
 * Processes the benchmark starts inside lab namespaces (load tools, echo and iperf3 servers,
 * haproxy): started through nsenter (which execs, so the PID is the tool's), remembered, and
 * always stopped by PID in `stopAll` — also when a measurement fails.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { execa, type ResultPromise } from 'execa'
import { LatchError } from '../../daemon/base/errors.js'
import { nsenterArgs } from '../../daemon/lab/daemons.js'
import { type LabPlan, resolveTarget } from '../../daemon/lab/plan.js'
import { killAndWait } from '../../daemon/lab/procs.js'
import { REPO } from './paths.js'

/** How long a process without a ready line must stay up to count as started. */
const START_SETTLE_MS = 500

type Child = ResultPromise<{ reject: false; cwd: string }>

const started = new Map<number, string>()

function argvIn(plan: LabPlan, target: string, argv: readonly string[]): string[] {
  const t = resolveTarget(plan, target)
  return nsenterArgs(t.netns, t.node, argv)
}

/**
 * node + tsx running one of the benchmark's TypeScript tools. tsx by absolute URL: nsenter into a
 * node's mount namespace starts the tool in "/", where a bare `tsx` does not resolve.
 */
export function nodeTool(file: string, args: readonly string[]): string[] {
  return [process.execPath, `--import=${import.meta.resolve('tsx')}`, file, ...args]
}

function describe(target: string, argv: readonly string[]): string {
  return `${target}: ${argv.map((a) => a.replace(REPO, '.')).join(' ')}`
}

/** Starts a long-running process in `target`; resolves once a line of its output starts with `readyLine`. */
export async function startIn(
  plan: LabPlan,
  target: string,
  argv: readonly string[],
  readyLine?: string,
): Promise<{ pid: number; child: Child }> {
  const child = execa('nsenter', argvIn(plan, target, argv), {
    reject: false,
    cwd: REPO,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  }) as Child
  const pid = child.pid
  if (pid === undefined) {
    const r = await child
    throw toolFailed(target, argv, String(r.stderr || r.message))
  }
  started.set(pid, describe(target, argv))
  if (readyLine !== undefined) {
    // a plain listener (execa reads the same stream for the result; nothing may pause it)
    let seen = ''
    let onData: ((d: Buffer) => void) | undefined
    const ready = new Promise<void>((resolve) => {
      onData = (d: Buffer) => {
        seen += d.toString()
        if (seen.split('\n').some((l) => l.trim().startsWith(readyLine))) resolve()
      }
      child.stdout?.on('data', onData)
    })
    const exited = child.then((r) => {
      throw toolFailed(target, argv, `exited (${r.exitCode}) before it was ready: ${r.stderr}`)
    })
    exited.catch(() => {})
    try {
      await Promise.race([ready, exited])
    } finally {
      if (onData) child.stdout?.off('data', onData)
    }
  }
  if (readyLine === undefined) {
    // no ready line to wait for (haproxy -db): it must at least survive its start-up
    const early = await Promise.race([child, sleep(START_SETTLE_MS).then(() => undefined)])
    if (early !== undefined) {
      started.delete(pid)
      throw toolFailed(target, argv, `exited (${early.exitCode}) at start: ${early.stderr || early.stdout}`)
    }
  }
  return { pid, child }
}

/** Runs a tool in `target` to completion; returns stdout, throws with its stderr if it fails. */
export async function runIn(
  plan: LabPlan,
  target: string,
  argv: readonly string[],
  timeoutMs = 120_000,
): Promise<string> {
  const child = execa('nsenter', argvIn(plan, target, argv), {
    reject: false,
    cwd: REPO,
    stdin: 'ignore',
    timeout: timeoutMs,
  })
  // registered while it runs, so an interrupted benchmark stops it too
  if (child.pid !== undefined) started.set(child.pid, describe(target, argv))
  const r = await child
  if (child.pid !== undefined) started.delete(child.pid)
  if (r.exitCode !== 0 || r.timedOut) {
    throw toolFailed(target, argv, r.timedOut ? `timed out after ${timeoutMs} ms` : r.stderr || r.stdout)
  }
  return r.stdout
}

export function toolFailed(target: string, argv: readonly string[], output: string): LatchError {
  return new LatchError(
    'LATCH_ERR_BENCH_TOOL_FAILED',
    `${describe(target, argv)} failed:\n${output.trim().split('\n').slice(-15).join('\n')}`,
    { details: { target, argv } },
  )
}

/** Stops one started process by PID (SIGTERM, then SIGKILL). */
export async function stop(pid: number): Promise<void> {
  await killAndWait([pid], 2000)
  started.delete(pid)
}

/** Stops everything still running that the benchmark started; returns what it stopped. */
export async function stopAll(): Promise<string[]> {
  const pids = [...started.keys()]
  const names = pids.map((p) => `${p} ${started.get(p)}`)
  await killAndWait(pids, 2000)
  started.clear()
  return names
}

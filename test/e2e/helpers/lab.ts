/**
 * The lab for e2e tests: bring it up, run commands in its namespaces, always tear it down.
 *
 *   import { useLab } from './helpers/lab.js'
 *   const lab = useLab(test, { rekeyInterval: '5s' })   // up in test.before, down in test.after.always
 *   test('…', async (t) => {
 *     const r = await lab().exec('node1-w1', ['ping', '-c1', '10.100.2.11'])
 *     t.is(r.exitCode, 0, r.stderr)
 *   })
 *
 * or, for one test body: `await withLab({ nodes: 2 }, async (lab) => { … })`.
 * Every lab test runs as root, one file at a time (ava --concurrency=1): the lab is machine-wide.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestFn } from 'ava'
import { execa, type ResultPromise } from 'execa'
import { scaled } from '../../../daemon/base/time-scale.js'
import {
  type DownReport,
  findLeftovers,
  LAB_STATE_DIR,
  type LabNode,
  type LabPlan,
  type LabWorkload,
  labCommand,
  labDown,
  labUp,
  type UpOptions,
  type UpReport,
} from '../../../daemon/lab/index.js'

export { type DownReport, findLeftovers, labDown, labUp, type UpOptions, type UpReport }

export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
}

export interface ExecOptions {
  input?: string
  /** Kill the command after this many ms (default 30 s); stretched by LATCH_TIME_SCALE. */
  timeoutMs?: number
}

export interface LabHandle {
  report: UpReport
  plan: LabPlan
  node(name: string): LabNode
  workload(name: string): LabWorkload
  /** Runs argv in a node or workload (its netns + the node's mount namespace); never throws on exit codes. */
  exec(target: string, argv: string[], opts?: ExecOptions): Promise<ExecResult>
  /**
   * Starts a long-running argv there (a server, a stream): `child` is the execa subprocess (await it
   * for its result; `child.kill()` stops it — `down` kills leftovers anyway). Wrapped in an object
   * because a subprocess is a thenable: returned bare from an async function it would be awaited.
   */
  spawn(target: string, argv: string[]): Promise<{ child: ResultPromise }>
}

export async function labExec(target: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, args] = await labCommand(target, argv)
  const r = await execa(cmd, args, {
    reject: false,
    timeout: scaled(opts.timeoutMs ?? 30_000),
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  })
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? (r.timedOut ? 124 : 128) }
}

/** The labSpawn children still running (servers a test leaves for the lab's end). */
const running = new Set<ResultPromise>()

export async function labSpawn(target: string, argv: string[]): Promise<{ child: ResultPromise }> {
  const [cmd, args] = await labCommand(target, argv)
  // its own process group (nsenter execs the command, so the group is the command and whatever it
  // forks: socat's per-connection children, a shell's pipeline), so endSpawned can end all of it
  const child = execa(cmd, args, { reject: false, stdin: 'ignore', detached: true })
  running.add(child)
  void child.finally(() => running.delete(child))
  return { child }
}

/**
 * Ends the process groups of the children this test file spawned that are still running and waits
 * for them, so the worker can exit and a shared lab is handed on without this file's servers in it.
 * Killing the child alone is not enough: a forked grandchild keeps its output pipes open, and the
 * subprocess would never settle. A group that still has not settled after a few seconds (a process
 * that left the group and kept a pipe) has its pipes closed instead of being waited for.
 */
async function endSpawned(): Promise<void> {
  const left = [...running]
  for (const c of left) {
    try {
      if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL')
    } catch {
      c.kill('SIGKILL')
    }
  }
  let timer: NodeJS.Timeout | undefined
  const settled = Promise.all(left).then(() => true)
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), scaled(5_000))
  })
  const done = await Promise.race([settled, late])
  clearTimeout(timer)
  if (!done) {
    for (const c of running) {
      c.stdout?.destroy()
      c.stderr?.destroy()
    }
    await Promise.all(left)
  }
}

function handle(report: UpReport): LabHandle {
  const { plan } = report
  return {
    report,
    plan,
    node(name) {
      const n = plan.nodes.find((x) => x.name === name)
      if (!n) throw new Error(`no node ${name} in the lab`)
      return n
    },
    workload(name) {
      const w = plan.nodes.flatMap((n) => n.workloads).find((x) => x.name === name)
      if (!w) throw new Error(`no workload ${name} in the lab`)
      return w
    },
    exec: labExec,
    spawn: labSpawn,
  }
}

/** Brings the lab up (from whatever state: a leftover lab of another size is removed first). */
export async function freshLab(opts: UpOptions = {}): Promise<LabHandle> {
  await labDown()
  return handle(await labUp(opts))
}

/** Runs fn with a fresh lab and always takes it down afterwards, whatever fn did. */
export async function withLab<T>(opts: UpOptions, fn: (lab: LabHandle) => Promise<T>): Promise<T> {
  try {
    return await fn(await freshLab(opts))
  } finally {
    await endSpawned()
    await labDown()
  }
}

/**
 * With LATCH_E2E_SHARE_LAB=1 (the real-kernel lane: a lab up there costs ~40 s of guest time), a
 * test file leaves its lab up, and the next file asking for the same options adopts it (`labUp`
 * repairs what a test left stopped) instead of building a new one. Whoever set the variable takes
 * the lab down at the end. The options are recorded inside the lab's state dir, which `down` removes.
 */
const SHARE_FILE = join(LAB_STATE_DIR, 'e2e-options.json')
const sharing = () => process.env.LATCH_E2E_SHARE_LAB === '1'

/** The shared lab's options as they were when it was built, if one is up to share. */
async function sharedOptions(): Promise<string | undefined> {
  return readFile(SHARE_FILE, 'utf8').catch(() => undefined)
}

/** The enforcing 2 × 2 lab of the datapath and pair-auth files: one value, so the lane shares it. */
export function enforcedLab(transport: 'wireguard' | 'ipsec'): UpOptions {
  return { nodes: 2, workloads: 2, enforce: true, svidTtl: '20s', transport }
}

/** One lab for a whole test file: up before the first test, down after the last (even on failure). */
export function useLab(test: TestFn, opts: UpOptions = {}): () => LabHandle {
  let lab: LabHandle | undefined
  const key = JSON.stringify(opts)
  test.before(async () => {
    if (sharing() && (await sharedOptions()) === key) {
      lab = handle(await labUp(opts))
      return
    }
    lab = await freshLab(opts)
    if (sharing()) await writeFile(SHARE_FILE, key)
  })
  test.after.always(async () => {
    await endSpawned()
    if (!sharing()) await labDown()
  })
  return () => {
    if (!lab) throw new Error('the lab is not up (test.before failed)')
    return lab
  }
}

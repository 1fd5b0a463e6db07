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
import type { TestFn } from 'ava'
import { execa, type ResultPromise } from 'execa'
import { scaled } from '../../../daemon/base/time-scale.js'
import {
  type DownReport,
  findLeftovers,
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

export async function labSpawn(target: string, argv: string[]): Promise<{ child: ResultPromise }> {
  const [cmd, args] = await labCommand(target, argv)
  return { child: execa(cmd, args, { reject: false, stdin: 'ignore' }) }
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
    await labDown()
  }
}

/** One lab for a whole test file: up before the first test, down after the last (even on failure). */
export function useLab(test: TestFn, opts: UpOptions = {}): () => LabHandle {
  let lab: LabHandle | undefined
  test.before(async () => {
    lab = await freshLab(opts)
  })
  test.after.always(async () => {
    await labDown()
  })
  return () => {
    if (!lab) throw new Error('the lab is not up (test.before failed)')
    return lab
  }
}

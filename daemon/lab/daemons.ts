/**
 * One latchd per lab node: the compiled dist/daemon/latchd.js of THIS repository (never whatever
 * `latchd` is on PATH), started detached inside the node's netns and mount namespace with its
 * output appended to the node's latchd.log. Ready = its control socket exists; a daemon that exits
 * first is reported with the tail of its log. Extra Node.js arguments (`lab up`'s `latchdNodeArgs`,
 * e.g. `--cpu-prof`) go between the node binary and latchd.js.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { open, readFile, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { LatchError } from '../base/errors.js'
import { scaled } from '../base/time-scale.js'
import { fetchStatus } from '../control/client.js'
import { netnsPath } from './netns.js'
import type { LabNode } from './plan.js'
import { alive, type LabProcess } from './procs.js'

export const DAEMON_READY_TIMEOUT_MS = scaled(20_000)

/** The repository root: the nearest directory above this module holding latch's package.json. */
export function repoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'daemon', 'latchd.ts'))) return dir
    if (dirname(dir) === dir) {
      throw new LatchError('LATCH_ERR_INTERNAL_BUG', `cannot find the latch repository above ${from}`)
    }
  }
}

/** The compiled latchd and latchctl entry points (built by `npm run build`). */
export function distEntry(which: 'latchd' | 'latchctl'): string {
  const file = join(repoRoot(), 'dist', 'daemon', which === 'latchd' ? 'latchd.js' : join('cli', 'main.js'))
  if (!existsSync(file)) {
    throw new LatchError('LATCH_ERR_LAB_DAEMON_NOT_BUILT', `${file} does not exist`, { details: { file } })
  }
  return file
}

/** The argv that runs `argv` inside a node's (or one of its workloads') namespaces. */
export function nsenterArgs(netns: string, node: LabNode, argv: readonly string[]): string[] {
  return [`--net=${netnsPath(netns)}`, `--mount=${node.mountNsFile}`, '--', ...argv]
}

/** The running latchd of `node` among the lab's processes, if any. */
export function findDaemon(node: LabNode, procs: LabProcess[]): LabProcess | undefined {
  return procs.find(
    (p) =>
      p.cmdline.some((a) => a.endsWith('latchd.js')) &&
      p.cmdline.includes('--config') &&
      p.cmdline.includes(node.configFile),
  )
}

/** The Node.js arguments a running latchd was started with (between the node binary and latchd.js). */
export function daemonNodeArgs(p: LabProcess): string[] {
  const i = p.cmdline.findIndex((a) => a.endsWith('latchd.js'))
  return i < 1 ? [] : p.cmdline.slice(1, i)
}

/**
 * Starts latchd for `node`, detached, with `nodeArgs` for Node.js itself (e.g. `--cpu-prof`);
 * returns its PID (nsenter execs it, so the PID is latchd's).
 */
export async function startDaemon(
  node: LabNode,
  entry: string,
  nodeArgs: readonly string[] = [],
): Promise<number> {
  // a socket left by a killed daemon would look like readiness
  await rm(node.controlSocket, { force: true })
  const log = await open(node.logFile, 'a', 0o600)
  try {
    await log.write(
      `\n--- latchctl lab up: starting latchd for ${node.name} at ${new Date().toISOString()}\n`,
    )
    const child = spawn(
      'nsenter',
      nsenterArgs(node.netns, node, [process.execPath, ...nodeArgs, entry, '--config', node.configFile]),
      { detached: true, stdio: ['ignore', log.fd, log.fd], cwd: '/' },
    )
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? -1))
      child.once('error', (err) =>
        reject(
          new LatchError('LATCH_ERR_LAB_TOOL_MISSING', `cannot run nsenter: ${err.message}`, { cause: err }),
        ),
      )
    })
    child.unref()
    return pid
  } finally {
    await log.close()
  }
}

/**
 * Waits until the daemon has finished starting (its control socket answers `status` with
 * `ready: true`); throws if it exits or the time runs out.
 */
export async function waitReady(
  node: LabNode,
  pid: number,
  timeoutMs = DAEMON_READY_TIMEOUT_MS,
): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (existsSync(node.controlSocket)) {
      const ready = await fetchStatus(node.controlSocket, 2_000).then(
        (s) => s.ready,
        () => false,
      )
      if (ready) return
    }
    if (!(await alive(pid))) {
      // it may have opened the socket and exited at once; that is still a death
      throw new LatchError(
        'LATCH_ERR_LAB_DAEMON_DIED',
        `latchd of ${node.name} (pid ${pid}) exited before opening ${node.controlSocket}; last lines of ${node.logFile}:\n${await logTail(node.logFile)}`,
        { details: { node: node.name, pid, log: node.logFile } },
      )
    }
    if (Date.now() >= until) {
      throw new LatchError(
        'LATCH_ERR_LAB_DAEMON_TIMEOUT',
        `latchd of ${node.name} (pid ${pid}) runs but did not finish starting (status ready on ${node.controlSocket}) within ${timeoutMs / 1000}s; last lines of ${node.logFile}:\n${await logTail(node.logFile)}`,
        { details: { node: node.name, pid, log: node.logFile } },
      )
    }
    await sleep(50)
  }
}

export async function logTail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const tail = text.trimEnd().split('\n').slice(-lines)
  return tail.map((l) => `  | ${l}`).join('\n') || '  | (empty)'
}

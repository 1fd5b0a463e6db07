/**
 * The lab's etcd cluster (plan in etcd-plan.ts): its PKI, its members' addresses on the underlay
 * bridge, the member processes (detached, in the underlay netns, found again by command line like the
 * daemons), and `etcdctl` as the lab administrator. A member stopped on purpose (`lab etcd stop`) is
 * recorded in the lab state and left stopped by `lab up` until `lab etcd start`. `lab down` needs
 * nothing from here: the members are processes in the underlay netns and their data lives in
 * /run/latch-lab, both of which it removes.
 */
import { spawn } from 'node:child_process'
import { mkdir, open } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { ensureEtcdPki, etcdPkiPaths } from '../../certs/etcd-pki.js'
import { LatchError } from '../base/errors.js'
import {
  clientUrl,
  type EtcdMember,
  etcdArgs,
  LAB_ETCD_DIR,
  LAB_ETCD_PKI_DIR,
  labEtcdMembers,
} from './etcd-plan.js'
import { netnsPath } from './netns.js'
import { type LabPlan, UNDERLAY_BRIDGE, UNDERLAY_NETNS } from './plan.js'
import { alive, type LabProcess, processesIn } from './procs.js'
import { type RunResult, run } from './run.js'

/** The client certificate `latchctl lab` itself (and tests) use to read and write etcd. */
export const LAB_ETCD_ADMIN = 'lab-admin'
const READY_TIMEOUT_MS = 30_000

export function findEtcdMember(m: EtcdMember, procs: readonly LabProcess[]): LabProcess | undefined {
  return procs.find((p) => p.cmdline[0]?.endsWith('etcd') && p.cmdline.includes(`--name=${m.name}`))
}

async function underlayProcs(): Promise<LabProcess[]> {
  return processesIn([netnsPath(UNDERLAY_NETNS)])
}

/** `etcdctl …` in the underlay netns as the lab administrator, against `members` (default: all). */
export function etcdctl(args: readonly string[], members = labEtcdMembers()): Promise<RunResult> {
  const pki = etcdPkiPaths(LAB_ETCD_PKI_DIR)
  const admin = pki.client(LAB_ETCD_ADMIN)
  return run(
    'nsenter',
    [
      `--net=${netnsPath(UNDERLAY_NETNS)}`,
      'etcdctl',
      `--endpoints=${members.map(clientUrl).join(',')}`,
      `--cacert=${pki.caCert}`,
      `--cert=${admin.cert}`,
      `--key=${admin.key}`,
      '--dial-timeout=2s',
      '--command-timeout=3s',
      ...args,
    ],
    { allowFailure: true },
  )
}

/** PKI, bridge addresses and every member not stopped on purpose; waits for a quorum. */
export async function ensureLabEtcd(plan: LabPlan, stopped: readonly string[]): Promise<string[]> {
  const members = labEtcdMembers()
  const actions: string[] = []
  const files = await ensureEtcdPki({
    dir: LAB_ETCD_PKI_DIR,
    // every member in the one underlay netns: a peer connection comes from the dialed member's address
    members: members.map((m) => ({ ...m, peerSourceIps: members.map((x) => x.ip) })),
    clients: [...plan.nodes.map((n) => n.name), LAB_ETCD_ADMIN],
  })
  if (files.length > 0) actions.push(`etcd certificates: ${files.length} files in ${LAB_ETCD_PKI_DIR}`)
  const addrs = await run('ip', ['-n', UNDERLAY_NETNS, '-j', 'addr', 'show', 'dev', UNDERLAY_BRIDGE])
  const have = new Set(
    (JSON.parse(addrs.stdout || '[]') as Array<{ addr_info?: Array<{ local: string }> }>).flatMap((l) =>
      (l.addr_info ?? []).map((a) => a.local),
    ),
  )
  const missing = members.filter((m) => !have.has(m.ip))
  if (missing.length > 0) {
    await run('ip', ['-n', UNDERLAY_NETNS, '-batch', '-'], {
      input: missing.map((m) => `addr replace ${m.ip}/24 dev ${UNDERLAY_BRIDGE}\n`).join(''),
    })
    actions.push(`etcd addresses on ${UNDERLAY_BRIDGE}: ${missing.map((m) => m.ip).join(', ')}`)
  }
  await mkdir(LAB_ETCD_DIR, { recursive: true, mode: 0o700 })
  const procs = await underlayProcs()
  for (const m of members) {
    if (stopped.includes(m.name) || findEtcdMember(m, procs)) continue
    const pid = await startMember(m, members)
    actions.push(`etcd member ${m.name} started (pid ${pid}, ${clientUrl(m)})`)
  }
  const running = members.filter((m) => !stopped.includes(m.name))
  if (running.length * 2 > members.length) await waitQuorum(running)
  return actions
}

async function startMember(m: EtcdMember, cluster: EtcdMember[]): Promise<number> {
  const log = await open(m.logFile, 'a', 0o600)
  try {
    const child = spawn(
      'nsenter',
      [`--net=${netnsPath(UNDERLAY_NETNS)}`, 'etcd', ...etcdArgs(m, cluster, LAB_ETCD_PKI_DIR)],
      { detached: true, stdio: ['ignore', log.fd, log.fd], cwd: '/' },
    )
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid ?? -1))
      child.once('error', (err) =>
        reject(
          new LatchError('LATCH_ERR_LAB_TOOL_MISSING', `cannot run nsenter etcd: ${err.message}`, {
            cause: err,
          }),
        ),
      )
    })
    child.unref()
    return pid
  } finally {
    await log.close()
  }
}

/** A linearizable read succeeds only with a leader and a quorum. */
async function waitQuorum(members: EtcdMember[]): Promise<void> {
  const until = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    const r = await etcdctl(['get', '/latch/lab/probe'], members)
    if (r.exitCode === 0) return
    if (Date.now() > until) {
      throw new LatchError(
        'LATCH_ERR_LAB_COMMAND_FAILED',
        `the lab's etcd cluster has no quorum after ${READY_TIMEOUT_MS / 1000}s: ${r.stderr.trim()} (logs: ${LAB_ETCD_DIR}/etcd*.log)`,
      )
    }
    await sleep(200)
  }
}

export interface EtcdMemberStatus {
  name: string
  endpoint: string
  pid?: number
  leader: boolean
}

/** Each member: its process, and whether it is the leader (from `etcdctl endpoint status`). */
export async function labEtcdStatus(): Promise<EtcdMemberStatus[]> {
  const members = labEtcdMembers()
  const procs = await underlayProcs()
  const r = await etcdctl(['endpoint', 'status', '-w', 'json'])
  const leaders = new Set<string>()
  try {
    for (const e of JSON.parse(r.stdout || '[]') as Array<{
      Endpoint: string
      Status: { header: { member_id: number | string }; leader: number | string }
    }>) {
      if (String(e.Status.header.member_id) === String(e.Status.leader)) leaders.add(e.Endpoint)
    }
  } catch {
    // no member answered: nobody leads
  }
  return members.map((m) => {
    const p = findEtcdMember(m, procs)
    return {
      name: m.name,
      endpoint: clientUrl(m),
      ...(p && { pid: p.pid }),
      leader: leaders.has(clientUrl(m)),
    }
  })
}

/** Kill the named members (SIGKILL: a crash, not a graceful leave); returns their names. */
export async function killLabEtcd(names: readonly string[]): Promise<string[]> {
  const procs = await underlayProcs()
  const members = labEtcdMembers().filter((m) => names.includes(m.name))
  const pids = members.flatMap((m) => {
    const p = findEtcdMember(m, procs)
    return p ? [p.pid] : []
  })
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 100 && (await Promise.all(pids.map(alive))).some(Boolean); i++) await sleep(20)
  return members.map((m) => m.name)
}

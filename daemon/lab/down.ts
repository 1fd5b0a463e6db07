/**
 * `latchctl lab down`: removes everything the lab made, found on the machine rather than in a
 * state file, so it also cleans after a crash or a killed test:
 *   1. processes in any lab netns or node mount namespace (latchd, wireguard-go, test servers):
 *      SIGTERM, then SIGKILL, by PID, and waited for
 *   2. mounts under /run/latch-lab (mount namespace pins, then the private self bind)
 *   3. the lab's network namespaces (their links and routes go with them)
 *   4. host bpffs pins named /sys/fs/bpf/latch-lab* (nodes pin into their own bpffs, which
 *      disappears with their mount namespace)
 *   5. /run/latch-lab itself
 * Then it looks again and reports anything still there as LATCH_ERR_LAB_TEARDOWN_INCOMPLETE.
 */
import { existsSync } from 'node:fs'
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LatchError } from '../base/errors.js'
import { withLabLock } from './lock.js'
import { hostMounts, mountsUnder, unmountUnder } from './mounts.js'
import { deleteNetns, listNetns, netnsPath } from './netns.js'
import { LAB_BPF_PIN_PATTERN, LAB_NETNS_PATTERN, LAB_STATE_DIR } from './plan.js'
import { killAndWait, type LabProcess, processesIn } from './procs.js'
import { requireRoot } from './up.js'

export const BPFFS = '/sys/fs/bpf'

export interface DownReport {
  changed: boolean
  killed: Array<{ pid: number; command: string }>
  netns: string[]
  mounts: string[]
  bpfPins: string[]
  removedStateDir: boolean
}

export interface Leftovers {
  netns: string[]
  processes: LabProcess[]
  mounts: string[]
  bpfPins: string[]
  stateDir: boolean
}

export async function labDown(): Promise<DownReport> {
  requireRoot()
  return withLabLock(down)
}

async function down(): Promise<DownReport> {
  const found = await findLeftovers()
  const stuck = await killAndWait(found.processes.map((p) => p.pid))
  const mounts = await unmountUnder(LAB_STATE_DIR)
  await deleteNetns(found.netns)
  for (const pin of found.bpfPins) await rm(join(BPFFS, pin), { recursive: true, force: true })
  if (found.stateDir) await rm(LAB_STATE_DIR, { recursive: true, force: true })

  const left = await findLeftovers()
  const what = [
    ...left.netns.map((n) => `netns ${n}`),
    ...left.processes.map((p) => `process ${p.pid} (${p.cmdline.join(' ')})`),
    ...stuck.map((pid) => `process ${pid} (did not exit)`),
    ...left.mounts.map((m) => `mount ${m}`),
    ...left.bpfPins.map((b) => `${BPFFS}/${b}`),
    ...(left.stateDir ? [LAB_STATE_DIR] : []),
  ]
  if (what.length > 0) {
    throw new LatchError('LATCH_ERR_LAB_TEARDOWN_INCOMPLETE', `lab down left behind: ${what.join('; ')}`, {
      details: { leftovers: what },
    })
  }
  return {
    changed:
      found.processes.length + found.netns.length + mounts.length + found.bpfPins.length > 0 ||
      found.stateDir,
    killed: found.processes.map((p) => ({ pid: p.pid, command: p.cmdline.join(' ') })),
    netns: found.netns,
    mounts,
    bpfPins: found.bpfPins,
    removedStateDir: found.stateDir,
  }
}

/** Everything of a lab present on this machine right now (empty lists = nothing). */
export async function findLeftovers(): Promise<Leftovers> {
  const netns = await listNetns(LAB_NETNS_PATTERN)
  const mounts = mountsUnder(await hostMounts(), LAB_STATE_DIR)
  const nsFiles = [...netns.map(netnsPath), ...mounts.filter((m) => m !== LAB_STATE_DIR)]
  const bpfPins = await readdir(BPFFS)
    .then((names) => names.filter((n) => LAB_BPF_PIN_PATTERN.test(n)))
    .catch(() => [])
  return {
    netns,
    processes: await processesIn(nsFiles),
    mounts,
    bpfPins,
    stateDir: existsSync(LAB_STATE_DIR),
  }
}

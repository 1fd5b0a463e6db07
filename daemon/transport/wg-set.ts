import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LatchError } from '../base/errors.js'
import { inParallel } from '../base/in-parallel.js'
import type { CommandRunner } from './runner.js'
import type { WgDesired, WgPlan } from './wg-plan.js'

/**
 * Bytes of argv one `wg set` may use. Linux allows about 2 MiB for argv + environment; a peer
 * clause is ~250 bytes, so one process carries ~4000 peer changes. Only beyond that is a plan
 * split over several processes (never one per peer).
 */
export const WG_SET_ARG_BUDGET = 1024 * 1024

/**
 * Apply a plan with ONE `wg set` process, however many peers change (up to WG_SET_ARG_BUDGET).
 *
 * Secrets never reach argv (which /proc shows to everyone): the private key is read by `wg` from
 * its own 0600 file, and each preshared key from a 0600 file in a fresh 0700 directory on tmpfs
 * (/dev/shm when present), removed as soon as `wg` exits.
 */
export async function applyWireguardPlan(
  runner: CommandRunner,
  iface: string,
  plan: WgPlan,
  desired: WgDesired,
  privateKeyFile: string,
): Promise<void> {
  const needPsk = plan.changes.some((c) => c.fields.includes('presharedKey'))
  const dir = needPsk ? await mkdtemp(join(secretTmpRoot(), 'latch-wg-')) : undefined
  try {
    const clauses: string[][] = []
    const device: string[] = []
    if (plan.setListenPort) device.push('listen-port', String(desired.listenPort))
    if (plan.setPrivateKey) device.push('private-key', privateKeyFile)
    if (device.length > 0) clauses.push(device)
    // removals first: a prefix moving to another peer is then free
    for (const key of plan.remove) clauses.push(['peer', key, 'remove'])
    let n = 0
    const pskFiles: Array<{ file: string; key: string }> = []
    for (const { peer, fields } of plan.changes) {
      const c = ['peer', peer.publicKey]
      if (fields.includes('presharedKey') && dir !== undefined) {
        const file = join(dir, String(n++))
        pskFiles.push({ file, key: peer.presharedKey })
        c.push('preshared-key', file)
      }
      if (fields.includes('endpoint')) c.push('endpoint', peer.endpoint)
      if (fields.includes('persistentKeepalive')) {
        c.push(
          'persistent-keepalive',
          peer.persistentKeepalive > 0 ? String(peer.persistentKeepalive) : 'off',
        )
      }
      if (fields.includes('allowedIps')) c.push('allowed-ips', peer.allowedIps.join(','))
      clauses.push(c)
    }
    // tmpfs writes through libuv's thread pool: several at once, not one await each
    await inParallel(pskFiles, 16, ({ file, key }) =>
      writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' }),
    )
    for (const batch of batches(clauses, WG_SET_ARG_BUDGET)) await runSet(runner, iface, batch)
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
}

/** Pack clauses in order into argv lists of at most `budget` bytes (a lone larger clause still goes). */
export function batches(clauses: readonly string[][], budget: number): string[][] {
  const out: string[][] = []
  let current: string[] = []
  let size = 0
  for (const c of clauses) {
    const bytes = c.reduce((s, a) => s + Buffer.byteLength(a) + 1, 0)
    if (current.length > 0 && size + bytes > budget) {
      out.push(current)
      current = []
      size = 0
    }
    current.push(...c)
    size += bytes
  }
  if (current.length > 0) out.push(current)
  return out
}

async function runSet(runner: CommandRunner, iface: string, clauseArgs: string[]): Promise<void> {
  const res = await runner.run('wg', ['set', iface, ...clauseArgs])
  if (res.exitCode !== 0) {
    throw new LatchError('LATCH_ERR_WG_COMMAND_FAILED', `\`wg set ${iface}\` failed: ${res.stderr.trim()}`, {
      details: { interface: iface, exitCode: res.exitCode, stderr: res.stderr.trim() },
    })
  }
}

function secretTmpRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
}

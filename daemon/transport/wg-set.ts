import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LatchError } from '../errors.js'
import type { CommandRunner } from './runner.js'
import type { WgDesired, WgPlan } from './wg-plan.js'

/**
 * Apply a plan with ONE `wg set` process, however many peers change.
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
    const args = ['set', iface]
    if (plan.setListenPort) args.push('listen-port', String(desired.listenPort))
    if (plan.setPrivateKey) args.push('private-key', privateKeyFile)
    for (const key of plan.remove) args.push('peer', key, 'remove')
    let n = 0
    for (const { peer, fields } of plan.changes) {
      args.push('peer', peer.publicKey)
      if (fields.includes('presharedKey') && dir !== undefined) {
        const file = join(dir, String(n++))
        await writeFile(file, `${peer.presharedKey}\n`, { mode: 0o600, flag: 'wx' })
        args.push('preshared-key', file)
      }
      if (fields.includes('endpoint')) args.push('endpoint', peer.endpoint)
      if (fields.includes('persistentKeepalive'))
        args.push('persistent-keepalive', String(peer.persistentKeepalive || 'off'))
      if (fields.includes('allowedIps')) args.push('allowed-ips', peer.allowedIps.join(','))
    }
    const res = await runner.run('wg', args)
    if (res.exitCode !== 0) {
      throw new LatchError(
        'LATCH_ERR_WG_COMMAND_FAILED',
        `\`wg set ${iface}\` failed: ${res.stderr.trim()}`,
        {
          details: { interface: iface, exitCode: res.exitCode, stderr: res.stderr.trim() },
        },
      )
    }
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  }
}

function secretTmpRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
}

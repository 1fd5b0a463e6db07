/**
 * Kernel adapter for the lab's network namespaces: list them, observe one (`ip -j`, sysctls),
 * apply a TopologyChanges (one `ip -batch` for the host, one per namespace, in parallel), delete.
 */
import { readdir } from 'node:fs/promises'
import { run } from './run.js'
import {
  type DesiredNetns,
  type ObservedNetns,
  parseIpObservation,
  type TopologyChanges,
} from './topology.js'

export const NETNS_DIR = '/run/netns'

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`
}

/** Names of the network namespaces `ip netns` knows that match `pattern`. */
export async function listNetns(pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => pattern.test(n)).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

export async function observeNetns(ns: DesiredNetns): Promise<ObservedNetns> {
  const keys = Object.keys(ns.sysctls)
  const [ip, sysctl] = await Promise.all([
    run('ip', ['-d', '-j', '-n', ns.name, '-batch', '-'], { input: 'addr show\nroute show\n' }),
    keys.length === 0
      ? Promise.resolve({ stdout: '' })
      : run('nsenter', [`--net=${netnsPath(ns.name)}`, '--', 'sysctl', '-n', ...keys]),
  ])
  const values = sysctl.stdout.split('\n')
  return {
    ...parseIpObservation(ip.stdout),
    sysctls: Object.fromEntries(keys.map((k, i) => [k, (values[i] ?? '').trim()])),
  }
}

export async function applyTopology(changes: TopologyChanges): Promise<void> {
  if (changes.createNetns.length > 0) {
    await run('ip', ['-batch', '-'], { input: changes.createNetns.map((n) => `netns add ${n}\n`).join('') })
  }
  // sysctls first: `default.*` values apply to links created afterwards
  await Promise.all(
    [...changes.sysctls].map(([ns, values]) =>
      run('nsenter', [
        `--net=${netnsPath(ns)}`,
        '--',
        'sysctl',
        '-q',
        '-w',
        ...Object.entries(values).map(([k, v]) => `${k}=${v}`),
      ]),
    ),
  )
  if (changes.hostBatch.length > 0) {
    await run('ip', ['-batch', '-'], { input: `${changes.hostBatch.join('\n')}\n` })
  }
  await Promise.all(
    [...changes.netnsBatches].map(([ns, lines]) =>
      run('ip', ['-n', ns, '-batch', '-'], { input: `${lines.join('\n')}\n` }),
    ),
  )
}

/** Deletes network namespaces in one `ip -batch`; ones already gone are not an error. */
export async function deleteNetns(names: string[]): Promise<void> {
  if (names.length === 0) return
  await run('ip', ['-force', '-batch', '-'], {
    input: names.map((n) => `netns del ${n}\n`).join(''),
    allowFailure: true,
  })
}

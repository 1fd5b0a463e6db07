/**
 * The lab's mounts. /run/latch-lab is bind-mounted onto itself and made private (a mount
 * namespace file may only be pinned on a non-shared mount); each node gets a persistent mount
 * namespace pinned at /run/latch-lab/<node>/mnt in which
 *   /var/run/wireguard  is a bind mount of /run/latch-lab/<node>/wireguard (wireguard-go sockets)
 *   /sys/fs/bpf         is a bpffs of its own (the node's pinned maps never collide with another's)
 * Processes of a node run in its netns AND this mount namespace (see exec.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { LAB_STATE_DIR, type LabNode } from './plan.js'
import { run } from './run.js'

export interface MountEntry {
  id: number
  parent: number
  root: string
  mountPoint: string
  fsType: string
  source: string
}

/** Parses /proc/<pid>/mountinfo (proc(5)); octal escapes such as \040 are decoded. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const fields = line.split(' ')
    const dash = fields.indexOf('-')
    if (dash < 6) continue
    out.push({
      id: Number(fields[0]),
      parent: Number(fields[1]),
      root: decodeField(fields[3] ?? ''),
      mountPoint: decodeField(fields[4] ?? ''),
      fsType: fields[dash + 1] ?? '',
      source: decodeField(fields[dash + 2] ?? ''),
    })
  }
  return out
}

function decodeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)))
}

export async function hostMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'))
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(mounts: MountEntry[], dir: string): string[] {
  const points = mounts.map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`))
  return [...new Set(points)].sort((a, b) => b.length - a.length || (a < b ? 1 : -1))
}

/** Makes LAB_STATE_DIR a private self bind mount; returns whether anything was done. */
export async function ensureStateDirMount(mounts: MountEntry[]): Promise<boolean> {
  await mkdir(LAB_STATE_DIR, { recursive: true, mode: 0o755 })
  if (mounts.some((m) => m.mountPoint === LAB_STATE_DIR)) return false
  await run('mount', ['--bind', LAB_STATE_DIR, LAB_STATE_DIR])
  await run('mount', ['--make-private', LAB_STATE_DIR])
  return true
}

/** What a node's mount namespace must contain, as "mountpoint fstype" checks. */
const WIREGUARD_MOUNT = '/run/wireguard'
const BPF_MOUNT = '/sys/fs/bpf'

/**
 * Creates the node's persistent mount namespace, or completes one a crash left half-done.
 * Returns the actions taken (empty = it was already right).
 */
export async function ensureNodeMountNs(node: LabNode, mounts: MountEntry[]): Promise<string[]> {
  await mkdir(node.wireguardDir, { recursive: true, mode: 0o700 })
  // the mount point must exist in the host tree the namespace is copied from
  await mkdir(WIREGUARD_MOUNT, { recursive: true, mode: 0o755 })
  const pinned = mounts.some((m) => m.mountPoint === node.mountNsFile && m.fsType === 'nsfs')
  if (!pinned) {
    await writeFile(node.mountNsFile, '', { flag: 'a' })
    await run('unshare', [`--mount=${node.mountNsFile}`, '--propagation', 'slave', '--', 'true'])
  }
  const inside = parseMountinfo(
    (await run('nsenter', [`--mount=${node.mountNsFile}`, '--', 'cat', '/proc/self/mountinfo'])).stdout,
  )
  const actions = pinned ? [] : [`mount namespace ${node.mountNsFile}`]
  // the bind's root is relative to its file system: /run/latch-lab/… on a disk, /latch-lab/… on a tmpfs /run
  const wg = inside.some(
    (m) =>
      m.mountPoint === WIREGUARD_MOUNT &&
      m.root.endsWith(`/${node.name}/wireguard`) &&
      m.root.includes('latch-lab'),
  )
  if (!wg) {
    await run('nsenter', [
      `--mount=${node.mountNsFile}`,
      '--',
      'mount',
      '--bind',
      node.wireguardDir,
      WIREGUARD_MOUNT,
    ])
    actions.push(`${WIREGUARD_MOUNT} → ${node.wireguardDir}`)
  }
  const bpf = inside.some(
    (m) => m.mountPoint === BPF_MOUNT && m.fsType === 'bpf' && m.source === `latch-${node.name}`,
  )
  if (!bpf) {
    await run('nsenter', [
      `--mount=${node.mountNsFile}`,
      '--',
      'mount',
      '-t',
      'bpf',
      `latch-${node.name}`,
      BPF_MOUNT,
    ])
    actions.push(`${BPF_MOUNT} (bpffs of ${node.name})`)
  }
  return actions
}

/**
 * Unmounts everything at or below `dir` (namespace pins first, deepest first), lazily if busy;
 * repeats while mounts remain, since one point can carry several stacked mounts.
 */
export async function unmountUnder(dir: string): Promise<string[]> {
  const done: string[] = []
  for (let round = 0; round < 5; round++) {
    const points = mountsUnder(await hostMounts(), dir)
    if (points.length === 0) break
    for (const p of points) {
      const r = await run('umount', [p], { allowFailure: true })
      if (r.exitCode !== 0) await run('umount', ['-l', p], { allowFailure: true })
      done.push(p)
    }
  }
  return done
}

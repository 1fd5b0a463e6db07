/**
 * Processes inside the lab's namespaces, found the way `ip netns pids` finds them: by comparing
 * each /proc/<pid>/ns/{net,mnt} with the namespace files (device + inode). Works from what is on
 * the machine, so `down` finds processes even when no state file survived. Killing is by PID only.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { hostMounts } from './mounts.js'

export interface LabProcess {
  pid: number
  /** The namespace file it matched: /run/netns/<name> or a node's mount namespace pin. */
  namespace: string
  cmdline: string[]
}

type NsKey = string

async function nsKey(file: string): Promise<NsKey | undefined> {
  try {
    const s = await stat(file)
    return `${s.dev}:${s.ino}`
  } catch {
    return undefined
  }
}

/** All live processes (zombies excluded) whose netns or mount namespace is one of `nsFiles`. */
export async function processesIn(nsFiles: string[]): Promise<LabProcess[]> {
  // only files that really pin a namespace (an nsfs mount): an unpinned mnt file is a plain file
  const pins = new Set((await hostMounts()).filter((m) => m.fsType === 'nsfs').map((m) => m.mountPoint))
  const wanted = new Map<NsKey, string>()
  for (const f of nsFiles) {
    const k = pins.has(f) ? await nsKey(f) : undefined
    if (k) wanted.set(k, f)
  }
  if (wanted.size === 0) return []
  const self = process.pid
  const out: LabProcess[] = []
  for (const entry of await readdir('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === self) continue
    const [net, mnt] = await Promise.all([nsKey(`/proc/${pid}/ns/net`), nsKey(`/proc/${pid}/ns/mnt`)])
    const ns = (net && wanted.get(net)) || (mnt && wanted.get(mnt))
    if (!ns) continue
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (cmdline === '') continue // exited meanwhile, or a kernel thread
    out.push({ pid, namespace: ns, cmdline: cmdline.split('\0').filter((a) => a !== '') })
  }
  return out
}

/** True while `pid` exists and is not a zombie. */
export async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // the state field follows the parenthesised command name, which may itself contain ")"
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. Returns the PIDs still alive. */
export async function killAndWait(pids: number[], graceMs = 3000): Promise<number[]> {
  const signal = (sig: NodeJS.Signals, list: number[]) => {
    for (const pid of list) {
      try {
        process.kill(pid, sig)
      } catch {
        // already gone
      }
    }
  }
  const waitGone = async (list: number[], ms: number): Promise<number[]> => {
    const until = Date.now() + ms
    let left = list
    for (;;) {
      const states = await Promise.all(left.map(alive))
      left = left.filter((_, i) => states[i])
      if (left.length === 0 || Date.now() >= until) return left
      await sleep(50)
    }
  }
  signal('SIGTERM', pids)
  let left = await waitGone(pids, graceMs)
  if (left.length > 0) {
    signal('SIGKILL', left)
    left = await waitGone(left, 2000)
  }
  return left
}

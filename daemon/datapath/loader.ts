/**
 * Loads the datapath object and pins it, or ADOPTS what an earlier latchd left pinned:
 *
 *  - maps: libbpf reuses a map already pinned at <pinDir>/<name> (same type and geometry), so the
 *    ipcache, auth entries and counters survive a daemon restart; otherwise it creates and pins it.
 *  - programs: pinned at <pinDir>/prog_<name>. The freshly loaded program's tag (a hash of its
 *    instructions) is compared with the pinned one's: equal -> the pinned program is kept (and the
 *    fresh copy dropped), so tc attachments stay untouched; different (an upgrade) -> the new
 *    program replaces the pin and attach() swaps tc filters atomically.
 *  - a map of flow state or settings (ct, frags, config) pinned by an older latch with another
 *    value size is unpinned first and created anew: flows are picked up again as new flows (a
 *    mid-stream TCP packet included) and the settings are written at every load (the load's
 *    `replacedMaps` names them; latchd logs them as `datapath_pins_replaced`). The maps that
 *    hold what latchd alone knows (ipcache, auth, policy, endpoints) are never dropped here: a
 *    mismatch there stays LATCH_ERR_BPF_PIN_INCOMPATIBLE.
 */
import { mkdirSync, statfsSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { LatchError } from '../base/errors.js'
import { LatchConfigLayout, LatchCtValueLayout, LatchFragValueLayout } from './abi/generated.js'
import { call, type NativeAddon, type NativeBpfMap } from './native.js'

const BPF_FS_MAGIC = 0xcafe4a11

export const PROGRAM_NAMES = ['from_workload', 'to_workload'] as const
export type ProgramName = (typeof PROGRAM_NAMES)[number]
export const MAP_NAMES = [
  'ipcache',
  'auth',
  'policy',
  'endpoints',
  'ct',
  'frags',
  'stats',
  'config',
  'event_rl',
  'events',
] as const
export type MapName = (typeof MAP_NAMES)[number]

export type LoadAction = 'loaded' | 'adopted' | 'replaced'

export interface LoadedProgram {
  name: ProgramName
  fd: number
  id: number
  tag: string
  action: LoadAction
}

export function programPinPath(pinDir: string, name: string): string {
  return join(pinDir, `prog_${name}`)
}

export function mapPinPath(pinDir: string, name: string): string {
  return join(pinDir, name)
}

/** Throws LATCH_ERR_BPF_NO_BPFFS unless `pinDir` is (or would be created) on a bpf file system. */
export function checkBpffs(pinDir: string): void {
  let dir = pinDir
  for (;;) {
    try {
      const st = statfsSync(dir)
      if (st.type !== BPF_FS_MAGIC) {
        throw new LatchError(
          'LATCH_ERR_BPF_NO_BPFFS',
          `${dir} (for pin dir ${pinDir}) is not on a bpf file system`,
        )
      }
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err
      dir = dirname(dir)
    }
  }
}

function exists(addon: NativeAddon, path: string): number | null {
  try {
    return addon.objGet(path)
  } catch (err) {
    if ((err as { code?: string }).code === 'LATCH_ERR_BPF_NOT_PINNED') return null
    throw err
  }
}

/** Maps whose content may be dropped when their geometry changed, and the value size expected. */
const RECREATABLE: ReadonlyArray<readonly [MapName, number]> = [
  ['ct', LatchCtValueLayout.size],
  ['frags', LatchFragValueLayout.size],
  ['config', LatchConfigLayout.size],
]

/** Unpins the RECREATABLE maps an older latch pinned with another value size; returns their names. */
export function dropStalePins(addon: NativeAddon, pinDir: string): MapName[] {
  const dropped: MapName[] = []
  for (const [name, valueSize] of RECREATABLE) {
    const path = mapPinPath(pinDir, name)
    const fd = call(() => exists(addon, path), `reading ${path}`)
    if (fd === null) continue
    let map: NativeBpfMap
    try {
      map = call(() => new addon.BpfMap(fd), `opening map ${path}`)
    } finally {
      addon.closeFd(fd)
    }
    try {
      if (map.info().valueSize === valueSize) continue
    } finally {
      map.close()
    }
    unlinkSync(path)
    dropped.push(name)
  }
  return dropped
}

export interface LoadResult {
  programs: LoadedProgram[]
  /** the maps dropStalePins unpinned, created anew by this load */
  replacedMaps: MapName[]
}

/** Loads `objectPath` with its maps pinned in `pinDir`; adopts pinned programs with the same tag. */
export function loadPinned(addon: NativeAddon, objectPath: string, pinDir: string): LoadResult {
  checkBpffs(pinDir)
  mkdirSync(pinDir, { recursive: true, mode: 0o700 })
  const replacedMaps = dropStalePins(addon, pinDir)
  const obj = call(() => new addon.BpfObject(objectPath, pinDir), `loading ${objectPath}`)
  const out: LoadedProgram[] = []
  try {
    const fresh = obj.programs()
    for (const name of PROGRAM_NAMES) {
      const prog = fresh.find((p) => p.name === name)
      if (!prog) {
        throw new LatchError('LATCH_ERR_BPF_OBJECT_INVALID', `${objectPath} has no program named ${name}`)
      }
      const pin = programPinPath(pinDir, name)
      let action: LoadAction = 'loaded'
      const pinnedFd = call(() => exists(addon, pin), `reading ${pin}`)
      if (pinnedFd !== null) {
        const pinned = call(() => addon.progInfo(pinnedFd))
        if (pinned.tag === prog.tag) {
          out.push({ name, fd: pinnedFd, id: pinned.id, tag: pinned.tag, action: 'adopted' })
          continue
        }
        addon.closeFd(pinnedFd)
        unlinkSync(pin)
        action = 'replaced'
      }
      call(() => obj.pinProgram(name, pin), `pinning ${name}`)
      const fd = call(() => addon.objGet(pin), `reading ${pin}`)
      out.push({ name, fd, id: prog.id, tag: prog.tag, action })
    }
    return { programs: out, replacedMaps }
  } catch (err) {
    for (const p of out) addon.closeFd(p.fd)
    throw err
  } finally {
    obj.close()
  }
}

/** Program fds of an already loaded datapath (readers that must not load anything). */
export function openPinnedPrograms(addon: NativeAddon, pinDir: string): LoadedProgram[] {
  const out: LoadedProgram[] = []
  try {
    for (const name of PROGRAM_NAMES) {
      const fd = call(() => addon.objGet(programPinPath(pinDir, name)), `opening pinned program ${name}`)
      try {
        const info = call(() => addon.progInfo(fd))
        out.push({ name, fd, id: info.id, tag: info.tag, action: 'adopted' })
      } catch (err) {
        addon.closeFd(fd)
        throw err
      }
    }
    return out
  } catch (err) {
    for (const p of out) addon.closeFd(p.fd)
    throw err
  }
}

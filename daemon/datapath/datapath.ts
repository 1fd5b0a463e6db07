/**
 * The datapath adapter the engine calls: load or adopt the pinned eBPF programs and maps, attach
 * them to workload interfaces, write the ipcache / endpoints / auth maps, read stats, and receive
 * ring-buffer events. Synchronous: every call is a few syscalls through the native addon.
 *
 *   const dp = Datapath.load({ pinDir: '/sys/fs/bpf/latch' })
 *   dp.endpoints.set({ ifindex, identity: 1, addrs: ['10.100.1.11'] })
 *   dp.ipcache.upsert([{ prefix: '10.100.2.11', identity: 7, scope: 'remote', ifindex: wgIfindex }])
 *   dp.auth.set([{ srcId: 7, dstId: 1, expiresAt }])
 *   dp.policy.set([{ srcId: 7, dstId: 1, any: false, ranges: [{ proto: 6, low: 5432, high: 5432 }] }])
 *   dp.attach('lw1')
 *   const sub = dp.subscribe((events) => ...)
 */
import { existsSync, rmdirSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { LatchError } from '../base/errors.js'
import {
  type Attachment,
  type AttachResult,
  attachPrograms,
  DEFAULT_TC_SLOT,
  detachPrograms,
  queryAttachment,
  resolveInterface,
  type TcSlot,
} from './attach.js'
import { type DatapathClock, kernelClock, msToNs } from './clock.js'
import { type DatapathEvent, type EventSubscription, subscribe } from './events.js'
import {
  type LoadedProgram,
  loadPinned,
  MAP_NAMES,
  type MapName,
  mapPinPath,
  openPinnedPrograms,
  PROGRAM_NAMES,
  type ProgramName,
  programPinPath,
} from './loader.js'
import { AuthMap } from './maps/auth.js'
import { ConfigMap, type CtTimeouts } from './maps/config.js'
import { CtMap } from './maps/ct.js'
import { EndpointsMap } from './maps/endpoints.js'
import { IpcacheMap } from './maps/ipcache.js'
import { PolicyMap } from './maps/policy.js'
import { StatsMap } from './maps/stats.js'
import { BPF_DIR, call, type NativeAddon, type NativeBpfMap, native, type TestRunOptions } from './native.js'

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/latch'
export const DEFAULT_OBJECT = join(BPF_DIR, 'latch.o')
export const DEFAULT_EVENT_INTERVAL_MS = 1000

export interface DatapathOptions {
  /** where maps and programs are pinned (default /sys/fs/bpf/latch) */
  pinDir?: string
  /** the compiled object (default bpf/latch.o of this checkout) */
  objectPath?: string
  /** tc filter slot (default handle 0x1a7c, priority 1) */
  tc?: Partial<TcSlot>
  /** rate limit of events per (src, dst, interface, reason); written at load (default 1000 ms) */
  eventIntervalMs?: number
  /** connection tracking idle timeouts written at load; a field left out (or 0) = the built-in default */
  ctTimeouts?: Partial<CtTimeouts>
  clock?: DatapathClock
}

export class Datapath {
  readonly ipcache: IpcacheMap
  readonly endpoints: EndpointsMap
  readonly auth: AuthMap
  readonly policy: PolicyMap
  readonly ct: CtMap
  readonly stats: StatsMap
  readonly config: ConfigMap
  private closed = false
  /** batchWrites scopes open now, and whether a write happened inside them */
  #batchDepth = 0
  #batchWrote = false

  private constructor(
    private readonly addon: NativeAddon,
    readonly pinDir: string,
    /** what happened to each program at load: loaded, adopted (kept from a previous run) or replaced */
    readonly programs: readonly LoadedProgram[],
    private readonly maps: ReadonlyMap<MapName, NativeBpfMap>,
    private readonly slot: TcSlot,
    private readonly clock: DatapathClock,
    /** maps an older latch pinned with another layout, unpinned and created anew by this load */
    readonly replacedMaps: readonly MapName[],
  ) {
    const m = (n: MapName) => maps.get(n)!
    this.config = new ConfigMap(m('config'))
    // every write that can change a verdict makes the verdicts kept in ct stale (once per
    // batchWrites scope, at its end)
    const wrote = () => {
      if (this.#batchDepth > 0) this.#batchWrote = true
      else this.config.bumpVerdictGen()
    }
    this.ipcache = new IpcacheMap(m('ipcache'), wrote)
    this.endpoints = new EndpointsMap(m('endpoints'), wrote)
    this.auth = new AuthMap(m('auth'), clock, wrote)
    this.policy = new PolicyMap(m('policy'), wrote)
    this.ct = new CtMap(m('ct'))
    this.stats = new StatsMap(m('stats'))
  }

  /** Loads the programs and maps, or adopts those pinned by an earlier run (see loader.ts). */
  static load(opts: DatapathOptions = {}): Datapath {
    const addon = native()
    const pinDir = opts.pinDir ?? DEFAULT_PIN_DIR
    const objectPath = opts.objectPath ?? DEFAULT_OBJECT
    if (!existsSync(objectPath)) {
      throw new LatchError('LATCH_ERR_BPF_OBJECT_MISSING', `the eBPF object ${objectPath} does not exist`)
    }
    const { programs, replacedMaps } = loadPinned(addon, objectPath, pinDir)
    const dp = Datapath.assemble(addon, pinDir, programs, opts, replacedMaps)
    const interval = opts.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS
    const ct = opts.ctTimeouts ?? {}
    dp.config.set({
      eventIntervalNs: msToNs(interval),
      ctTcpSynNs: ct.ctTcpSynNs ?? 0n,
      ctTcpEstablishedNs: ct.ctTcpEstablishedNs ?? 0n,
      ctTcpClosingNs: ct.ctTcpClosingNs ?? 0n,
      ctTcpClosedNs: ct.ctTcpClosedNs ?? 0n,
      ctUdpNs: ct.ctUdpNs ?? 0n,
      ctIcmpNs: ct.ctIcmpNs ?? 0n,
      ctOtherNs: ct.ctOtherNs ?? 0n,
      fragNs: ct.fragNs ?? 0n,
    })
    // verdicts kept by flows before this load (an earlier latchd) are re-checked
    dp.config.bumpVerdictGen()
    return dp
  }

  /**
   * Runs `fn`'s writes of the endpoints, ipcache, policy and auth maps with one verdict_gen bump
   * when it returns instead of one per write (a reconcile's apply: up to 8 batch writes). It bumps
   * also when `fn` throws (a batch that failed may have written part of it), so once `batchWrites`
   * returns or throws, tracked flows re-check whatever changed. Scopes nest (the outermost bumps).
   */
  batchWrites<T>(fn: () => T): T {
    this.#batchDepth++
    let threw = true
    try {
      const result = fn()
      threw = false
      return result
    } finally {
      if (--this.#batchDepth === 0) {
        const bump = this.#batchWrote || threw
        this.#batchWrote = false
        if (bump) this.config.bumpVerdictGen()
      }
    }
  }

  /** Opens a datapath some latchd already loaded, loading nothing (for readers like status tools). */
  static openPinned(
    opts: Omit<DatapathOptions, 'objectPath' | 'eventIntervalMs' | 'ctTimeouts'> = {},
  ): Datapath {
    const addon = native()
    const pinDir = opts.pinDir ?? DEFAULT_PIN_DIR
    return Datapath.assemble(addon, pinDir, openPinnedPrograms(addon, pinDir), opts)
  }

  private static assemble(
    addon: NativeAddon,
    pinDir: string,
    programs: LoadedProgram[],
    opts: DatapathOptions,
    replacedMaps: readonly MapName[] = [],
  ): Datapath {
    const maps = new Map<MapName, NativeBpfMap>()
    try {
      for (const name of MAP_NAMES) {
        const path = mapPinPath(pinDir, name)
        maps.set(
          name,
          call(() => new addon.BpfMap(path), `opening map ${path}`),
        )
      }
      return new Datapath(
        addon,
        pinDir,
        programs,
        maps,
        { ...DEFAULT_TC_SLOT, ...opts.tc },
        opts.clock ?? kernelClock,
        replacedMaps,
      )
    } catch (err) {
      for (const m of maps.values()) m.close()
      for (const p of programs) addon.closeFd(p.fd)
      throw err
    }
  }

  private live(): void {
    if (this.closed) throw new LatchError('LATCH_ERR_INTERNAL_BUG', 'the datapath was used after close()')
  }

  private program(name: ProgramName): LoadedProgram {
    this.live()
    const p = this.programs.find((x) => x.name === name)
    if (!p) throw new LatchError('LATCH_ERR_INTERNAL_BUG', `program ${name} is not loaded`)
    return p
  }

  /** The ifindex of an interface name (or checks an index) in this network namespace. */
  ifindex(iface: string | number): number {
    return resolveInterface(this.addon, iface)
  }

  /** Puts from_workload (ingress) and to_workload (egress) on a workload's host-side interface. */
  attach(iface: string | number): AttachResult {
    const ifindex = this.ifindex(iface)
    return attachPrograms(
      this.addon,
      ifindex,
      { fromWorkload: this.program('from_workload'), toWorkload: this.program('to_workload') },
      this.slot,
    )
  }

  /** Removes our filters from an interface; false for a direction where there was none. */
  detach(iface: string | number): { ingress: boolean; egress: boolean } {
    this.live()
    return detachPrograms(this.addon, this.ifindex(iface), this.slot)
  }

  /** What is attached at our slot, and whether it is the current program. */
  attachment(iface: string | number): Attachment & { current: boolean } {
    this.live()
    const a = queryAttachment(this.addon, this.ifindex(iface), this.slot)
    const current =
      a.ingressProgId === this.program('from_workload').id &&
      a.egressProgId === this.program('to_workload').id
    return { ...a, current }
  }

  /** Receives events from the ring buffer (one reader per node: latchd). */
  subscribe(
    onEvents: (events: DatapathEvent[]) => void,
    onError?: (err: unknown) => void,
  ): EventSubscription {
    this.live()
    const events = this.maps.get('events')!
    return subscribe(this.addon, events.fd(), () => this.clock.sample(), onEvents, onError)
  }

  /** BPF_PROG_TEST_RUN of one program on a crafted Ethernet frame (tests, benchmarks, diagnostics). */
  testRun(name: ProgramName, opts: TestRunOptions) {
    const p = this.program(name)
    return call(() => this.addon.progTestRun(p.fd, opts), `test run of ${name}`)
  }

  /** Closes this process's handles. Pinned programs, maps and tc filters stay (restart-safe). */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const m of this.maps.values()) m.close()
    for (const p of this.programs) this.addon.closeFd(p.fd)
  }

  /**
   * Removes the pins under `pinDir` (maps and programs) and the directory if it is then empty.
   * Attached tc filters keep their programs alive until detached; the maps die with the last user.
   */
  static unpin(pinDir: string = DEFAULT_PIN_DIR): string[] {
    const removed: string[] = []
    const paths = [
      ...MAP_NAMES.map((n) => mapPinPath(pinDir, n)),
      ...PROGRAM_NAMES.map((n) => programPinPath(pinDir, n)),
    ]
    for (const p of paths) {
      try {
        unlinkSync(p)
        removed.push(p)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    try {
      rmdirSync(pinDir)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY') throw err
    }
    return removed
  }
}

/** The ipcache (LPM trie): workload prefixes -> identity id, scope and required ingress interface. */
import { LatchError } from '../../base/errors.js'
import {
  decodeLatchIpcacheKey,
  decodeLatchIpcacheValue,
  encodeLatchIpcacheKey,
  encodeLatchIpcacheValue,
  LatchIpcacheFlags,
  LatchIpcacheKeyLayout,
  LatchIpcacheValueLayout,
} from '../abi/generated.js'
import { formatPrefix, ipToBytes, parsePrefix } from '../addr.js'
import { call, type NativeBpfMap } from '../native.js'
import { checkGeometry, checkId, checkIfindex, type OnMapWrite } from './common.js'

export type IpcacheScope = 'local' | 'remote'

export interface IpcacheEntry {
  /** CIDR or single address ("10.100.2.11" = /32) */
  prefix: string
  identity: number
  /** local: a workload on this node; remote: behind a peer, accepted only via the tunnel */
  scope: IpcacheScope
  /** required ingress interface: the workload's veth (local) or the WireGuard interface (remote) */
  ifindex: number
}

const SCOPE_FLAGS: Record<IpcacheScope, number> = {
  local: LatchIpcacheFlags.LATCH_IPCACHE_F_LOCAL,
  remote: LatchIpcacheFlags.LATCH_IPCACHE_F_REMOTE,
}

export class IpcacheMap {
  constructor(
    private readonly map: NativeBpfMap,
    /** runs after every write (the Datapath bumps the verdict generation) */
    private readonly onWrite: OnMapWrite = () => undefined,
  ) {
    checkGeometry(map, 'ipcache', LatchIpcacheKeyLayout.size, LatchIpcacheValueLayout.size)
  }
  private wrote<T>(result: T): T {
    this.onWrite()
    return result
  }

  private static key(prefix: string, buf?: Buffer, off?: number): Buffer {
    const p = parsePrefix(prefix)
    return encodeLatchIpcacheKey({ prefixlen: p.prefixlen, ip: { addr: p.addr } }, buf, off)
  }

  private static value(e: IpcacheEntry, buf?: Buffer, off?: number): Buffer {
    checkId(e.identity, `identity of ${e.prefix}`)
    checkIfindex(e.ifindex)
    const flags = SCOPE_FLAGS[e.scope]
    if (flags === undefined) {
      throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', `scope of ${e.prefix} must be "local" or "remote"`)
    }
    if (e.scope === 'remote' && e.ifindex === 0) {
      throw new LatchError(
        'LATCH_ERR_BPF_BAD_ARGUMENT',
        `remote entry ${e.prefix} needs the ifindex of the WireGuard interface its packets arrive on`,
      )
    }
    return encodeLatchIpcacheValue({ identity: e.identity, flags, ifindex: e.ifindex }, buf, off)
  }

  /** Inserts or replaces entries: one syscall for any number of them. */
  upsert(entries: readonly IpcacheEntry[]): number {
    if (entries.length === 0) return 0
    const ks = LatchIpcacheKeyLayout.size
    const vs = LatchIpcacheValueLayout.size
    const keys = Buffer.alloc(entries.length * ks)
    const values = Buffer.alloc(entries.length * vs)
    entries.forEach((e, i) => {
      IpcacheMap.key(e.prefix, keys, i * ks)
      IpcacheMap.value(e, values, i * vs)
    })
    return this.wrote(call(() => this.map.updateBatch(keys, values, entries.length), 'ipcache upsert'))
  }

  /** Inserts or replaces one entry per syscall (the benchmark's baseline; prefer upsert). */
  upsertOne(e: IpcacheEntry): void {
    const key = IpcacheMap.key(e.prefix)
    const value = IpcacheMap.value(e)
    this.wrote(call(() => this.map.update(key, value), 'ipcache update'))
  }

  /** Deletes prefixes (exact prefixes, not longest match); returns how many existed. */
  delete(prefixes: readonly string[]): number {
    if (prefixes.length === 0) return 0
    const ks = LatchIpcacheKeyLayout.size
    const keys = Buffer.alloc(prefixes.length * ks)
    for (const [i, p] of prefixes.entries()) IpcacheMap.key(p, keys, i * ks)
    return this.wrote(call(() => this.map.deleteMany(keys, prefixes.length), 'ipcache delete'))
  }

  /** The entry a packet from/to `ip` would match (longest prefix), or null. */
  lookup(ip: string): IpcacheEntry | null {
    const key = encodeLatchIpcacheKey({ prefixlen: 128, ip: { addr: ipToBytes(ip) } })
    const value = Buffer.alloc(LatchIpcacheValueLayout.size)
    if (!call(() => this.map.lookup(key, value), 'ipcache lookup')) return null
    // the kernel returns the value only; name the entry by the address that matched
    return IpcacheMap.entry(`${ip}`, value)
  }

  private static entry(prefix: string, value: Buffer): IpcacheEntry {
    const v = decodeLatchIpcacheValue(value)
    const scope: IpcacheScope = v.flags & LatchIpcacheFlags.LATCH_IPCACHE_F_REMOTE ? 'remote' : 'local'
    return { prefix, identity: v.identity, scope, ifindex: v.ifindex }
  }

  list(): IpcacheEntry[] {
    const d = call(() => this.map.dump(), 'ipcache dump')
    const out: IpcacheEntry[] = []
    for (let i = 0; i < d.count; i++) {
      const k = decodeLatchIpcacheKey(d.keys, i * LatchIpcacheKeyLayout.size)
      const value = d.values.subarray(
        i * LatchIpcacheValueLayout.size,
        (i + 1) * LatchIpcacheValueLayout.size,
      )
      out.push(IpcacheMap.entry(formatPrefix({ prefixlen: k.prefixlen, addr: k.ip.addr }), value))
    }
    return out
  }
}

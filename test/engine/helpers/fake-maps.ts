import type {
  AuthEntry,
  AuthPair,
  Endpoint,
  IpcacheEntry,
  PolicyEntry,
  PolicyPair,
} from '../../../daemon/datapath/index.js'
import { formatPrefix, parsePrefix } from '../../../daemon/datapath/index.js'
import type { DatapathMaps } from '../../../daemon/engine/datapath-maps.js'

/**
 * An in-memory model of the pinned endpoints / ipcache / auth / policy maps for transcript tests of the
 * datapath reconcile. Every batch call lands in `transcript` as one line (entries sorted so lines
 * compare across runs); reads are not recorded. Like the real maps it canonicalises prefixes,
 * refuses a remote ipcache entry without an ifindex, and stores expiries at millisecond precision.
 */
export class FakeMaps implements DatapathMaps {
  readonly transcript: string[] = []
  readonly endpointsMap = new Map<number, Endpoint>()
  readonly ipcacheMap = new Map<string, IpcacheEntry>()
  readonly authMap = new Map<string, AuthEntry>()
  readonly policyMap = new Map<string, PolicyEntry>()
  /** whole-map reads of the policy map (the reconcile reads it only when its desired content changed) */
  policyReads = 0
  /** whole-map reads of the endpoints, ipcache and auth maps (read at adopt, by collect, after a failed apply) */
  readonly reads = { endpoints: 0, ipcache: 0, auth: 0 }
  /** batchWrites scopes run (on the real maps: one verdict_gen bump each) */
  writeScopes = 0

  batchWrites<T>(fn: () => T): T {
    this.writeScopes++
    return fn()
  }

  readonly endpoints = {
    list: (): Endpoint[] => {
      this.reads.endpoints++
      return [...this.endpointsMap.values()]
        .map((e) => ({ ...e, addrs: [...e.addrs] }))
        .sort((a, b) => a.ifindex - b.ifindex)
    },
    setMany: (entries: readonly Endpoint[]): number => {
      for (const e of entries) this.endpointsMap.set(e.ifindex, { ...e, addrs: [...e.addrs] })
      this.#log(
        'endpoints set',
        entries.map((e) => `${e.ifindex}=${e.identity}[${e.addrs.join(',')}]`),
      )
      return entries.length
    },
    deleteMany: (ifindexes: readonly number[]): number => {
      const n = ifindexes.filter((i) => this.endpointsMap.delete(i)).length
      this.#log('endpoints delete', ifindexes.map(String))
      return n
    },
  }

  readonly ipcache = {
    list: (): IpcacheEntry[] => {
      this.reads.ipcache++
      return [...this.ipcacheMap.values()].map((e) => ({ ...e }))
    },
    upsert: (entries: readonly IpcacheEntry[]): number => {
      for (const e of entries) {
        if (e.scope === 'remote' && e.ifindex === 0)
          throw new Error(`remote entry ${e.prefix} without an ifindex`)
        const prefix = canonical(e.prefix)
        this.ipcacheMap.set(prefix, { ...e, prefix })
      }
      this.#log(
        'ipcache upsert',
        entries.map((e) => `${canonical(e.prefix)}=${e.identity}/${e.scope}/if${e.ifindex}`),
      )
      return entries.length
    },
    delete: (prefixes: readonly string[]): number => {
      const n = prefixes.filter((p) => this.ipcacheMap.delete(canonical(p))).length
      this.#log('ipcache delete', prefixes.map(canonical))
      return n
    },
  }

  readonly auth = {
    list: (): AuthEntry[] => {
      this.reads.auth++
      return [...this.authMap.values()].map((e) => ({ ...e }))
    },
    set: (entries: readonly AuthEntry[]): number => {
      for (const e of entries) {
        this.authMap.set(key(e), {
          srcId: e.srcId,
          dstId: e.dstId,
          expiresAt: new Date(e.expiresAt.getTime()),
        })
      }
      this.#log(
        'auth set',
        entries.map((e) => `${e.srcId}->${e.dstId}`),
      )
      return entries.length
    },
    delete: (pairs: readonly AuthPair[]): number => {
      const n = pairs.filter((p) => this.authMap.delete(key(p))).length
      this.#log(
        'auth delete',
        pairs.map((p) => `${p.srcId}->${p.dstId}`),
      )
      return n
    },
  }

  readonly policy = {
    list: (): PolicyEntry[] => {
      this.policyReads++
      return [...this.policyMap.values()].map((e) => ({ ...e, ranges: e.ranges.map((r) => ({ ...r })) }))
    },
    set: (entries: readonly PolicyEntry[]): number => {
      for (const e of entries) {
        if (e.any !== (e.ranges.length === 0)) throw new Error(`policy entry ${key(e)}: any xor ranges`)
        this.policyMap.set(key(e), { ...e, ranges: e.ranges.map((r) => ({ ...r })) })
      }
      this.#log(
        'policy set',
        entries.map(
          (e) =>
            `${e.srcId}->${e.dstId}=${e.any ? 'any' : e.ranges.map((r) => `${r.proto}:${r.low}-${r.high}`).join(',')}`,
        ),
      )
      return entries.length
    },
    delete: (pairs: readonly PolicyPair[]): number => {
      const n = pairs.filter((p) => this.policyMap.delete(key(p))).length
      this.#log(
        'policy delete',
        pairs.map((p) => `${p.srcId}->${p.dstId}`),
      )
      return n
    },
  }

  /** Lines since the previous call (what one step did). */
  take(): string[] {
    return this.transcript.splice(0)
  }

  #log(op: string, items: string[]): void {
    this.transcript.push(`${op} ${[...items].sort().join(' ')}`)
  }
}

function canonical(prefix: string): string {
  return formatPrefix(parsePrefix(prefix))
}

function key(p: AuthPair | PolicyPair): string {
  return `${p.srcId} ${p.dstId}`
}

/**
 * The port the datapath reconcile drives: the pinned eBPF maps as whole-map reads and batch writes.
 * `Datapath` (daemon/datapath) implements it on the real maps; test/engine/helpers/fake-maps.ts is the
 * in-memory model the transcript tests replay against. One batch call per operation, whatever the
 * number of entries (the native addon's BPF_MAP_UPDATE_BATCH / delete loop).
 */
import type {
  AuthEntry,
  AuthPair,
  Endpoint,
  IpcacheEntry,
  PolicyEntry,
  PolicyPair,
} from '../datapath/index.js'

export interface EndpointsPort {
  list(): Endpoint[]
  setMany(entries: readonly Endpoint[]): number
  deleteMany(ifindexes: readonly number[]): number
}

export interface IpcachePort {
  /** prefixes canonical (`10.100.2.11/32`) */
  list(): IpcacheEntry[]
  upsert(entries: readonly IpcacheEntry[]): number
  delete(prefixes: readonly string[]): number
}

export interface AuthPort {
  list(): AuthEntry[]
  set(entries: readonly AuthEntry[]): number
  delete(pairs: readonly AuthPair[]): number
}

export interface PolicyPort {
  list(): PolicyEntry[]
  set(entries: readonly PolicyEntry[]): number
  delete(pairs: readonly PolicyPair[]): number
}

export interface DatapathMaps {
  readonly endpoints: EndpointsPort
  readonly ipcache: IpcachePort
  readonly auth: AuthPort
  readonly policy: PolicyPort
  /**
   * Runs `fn`'s writes as one change for the verdicts tracked flows keep: on the real maps one
   * config.verdict_gen bump when `fn` returns or throws, not one per write (Datapath.batchWrites).
   */
  batchWrites<T>(fn: () => T): T
}

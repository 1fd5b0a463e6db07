/**
 * The pure half of the datapath reconcile: desired maps + what the pinned maps hold → the smallest
 * set of batch writes and deletes per map. No I/O here; `datapath-apply.ts` runs a plan with one
 * batch call per map and operation.
 *
 * Restart adoption, the grace and GC are part of this diff:
 * - `keep` names entries found in the maps at start (a previous latchd wrote them) that no writer has
 *   re-asserted yet: remote identities (within the grace) and auth entries (until they expire or an
 *   identity they name is forgotten). They are left as they are — a remote one is only re-pointed at
 *   the current WireGuard ifindex — like WireGuard peers adopted by `wg-plan.ts`.
 * - anything else not desired is deleted: stale local entries, remote identities nobody claimed once
 *   the grace is over, entries whose ids the allocation does not know (fail closed);
 * - an auth entry at or past its expiry is deleted and never written (the GC);
 * - the policy map is diffed only when a policy is desired (`desired.policy` defined): until the
 *   first policy hand-over after a restart, the rules a previous latchd wrote stay in force.
 */
import type {
  AuthEntry,
  AuthPair,
  Endpoint,
  IpcacheEntry,
  PolicyEntry,
  PolicyPair,
} from '../datapath/index.js'
import { authKey, type DesiredMaps } from './datapath-desired.js'

export interface ActualMaps {
  endpoints: readonly Endpoint[]
  ipcache: readonly IpcacheEntry[]
  auth: readonly AuthEntry[]
  /** read only when a policy is desired */
  policy?: readonly PolicyEntry[] | undefined
}

export interface DatapathKeep {
  /** identity ids whose remote ipcache entries stay though nobody desires them */
  remoteIds: ReadonlySet<number>
  /** authKey(srcId, dstId) of auth entries that stay though nobody desires them (until expiry) */
  auth: ReadonlySet<string>
}

export const NOTHING_KEPT: DatapathKeep = { remoteIds: new Set(), auth: new Set() }

export interface PlanOptions {
  now: Date
  keep?: DatapathKeep
  /** where kept remote entries must point (the WireGuard interface now) */
  wireguardIfindex?: number | undefined
}

export interface MapChanges<W, D> {
  /** entries to insert or replace (one batch) */
  write: W[]
  /** keys to delete (one batch) */
  delete: D[]
}

export interface DatapathPlan {
  endpoints: MapChanges<Endpoint, number>
  ipcache: MapChanges<IpcacheEntry, string>
  auth: MapChanges<AuthEntry, AuthPair>
  policy: MapChanges<PolicyEntry, PolicyPair>
}

/**
 * Two expiries within this are the same (the maps store boot-clock ns; reading them back into wall
 * time shifts by the sampling jitter of the two clocks, far below a millisecond).
 */
export const EXPIRY_TOLERANCE_MS = 10

export function planDatapath(desired: DesiredMaps, actual: ActualMaps, o: PlanOptions): DatapathPlan {
  const keep = o.keep ?? NOTHING_KEPT
  return {
    endpoints: diff(
      desired.endpoints,
      new Map(actual.endpoints.map((e) => [e.ifindex, e])),
      sameEndpoint,
      () => undefined,
      (ifindex) => ifindex,
    ),
    ipcache: diff(
      desired.ipcache,
      new Map(actual.ipcache.map((e) => [e.prefix, e])),
      sameIpcache,
      (have) => {
        if (have.scope !== 'remote' || !keep.remoteIds.has(have.identity)) return undefined
        const ifindex = o.wireguardIfindex ?? have.ifindex
        return have.ifindex === ifindex ? 'as is' : { ...have, ifindex }
      },
      (prefix) => prefix,
    ),
    auth: planAuth(desired.auth, actual.auth, keep.auth, o.now),
    policy:
      desired.policy === undefined
        ? { write: [], delete: [] }
        : completed(
            policyDiff(
              desired.policy,
              new Map((actual.policy ?? []).map((e) => [authKey(e.srcId, e.dstId), e])),
            ),
          ),
  }
}

function planAuth(
  desired: ReadonlyMap<string, AuthEntry>,
  actual: readonly AuthEntry[],
  keep: ReadonlySet<string>,
  now: Date,
): MapChanges<AuthEntry, AuthPair> {
  const live = new Map<string, AuthEntry>()
  for (const [k, e] of desired) if (e.expiresAt > now) live.set(k, e)
  const have = new Map<string, AuthEntry>()
  const expired: AuthPair[] = []
  for (const e of actual) {
    if (e.expiresAt <= now) expired.push({ srcId: e.srcId, dstId: e.dstId })
    else have.set(authKey(e.srcId, e.dstId), e)
  }
  const changes = diff(
    live,
    have,
    (a, b) => Math.abs(a.expiresAt.getTime() - b.expiresAt.getTime()) <= EXPIRY_TOLERANCE_MS,
    (e) => (keep.has(authKey(e.srcId, e.dstId)) ? 'as is' : undefined),
    (_k, e) => ({ srcId: e.srcId, dstId: e.dstId }),
  )
  changes.delete.push(...expired)
  changes.delete.sort((a, b) => a.srcId - b.srcId || a.dstId - b.dstId)
  return changes
}

/**
 * The diff as steps: desired vs actual, one map, pausing (a `yield`) before every `every`-th entry
 * it visits, so a caller can run it a chunk per event-loop turn (PolicyMapState.prepare) or at once
 * (`completed`). A diff of at most `every` entries never pauses. Returns the changes.
 */
export type DiffSteps<V, D> = Generator<void, MapChanges<V, D>, void>

/** Runs a diff's steps to the end without pausing. */
export function completed<V, D>(steps: DiffSteps<V, D>): MapChanges<V, D> {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}

/** The policy map's diff (the planner's and a policy hand-over's): entries keyed by authKey. */
export function policyDiff(
  desired: ReadonlyMap<string, PolicyEntry>,
  actual: ReadonlyMap<string, PolicyEntry>,
  every = Number.POSITIVE_INFINITY,
): DiffSteps<PolicyEntry, PolicyPair> {
  return diffSteps(
    desired,
    actual,
    samePolicy,
    () => undefined,
    (_k, e) => ({ srcId: e.srcId, dstId: e.dstId }),
    every,
  )
}

/**
 * Desired vs actual, one map. `kept(have)` decides for an entry nobody desires: undefined = delete,
 * 'as is' = leave, an entry = rewrite it so.
 */
function diff<K, V, D>(
  desired: ReadonlyMap<K, V>,
  actual: ReadonlyMap<K, V>,
  same: (want: V, have: V) => boolean,
  kept: (have: V) => V | 'as is' | undefined,
  keyOf: (k: K, have: V) => D,
): MapChanges<V, D> {
  return completed(diffSteps(desired, actual, same, kept, keyOf, Number.POSITIVE_INFINITY))
}

function* diffSteps<K, V, D>(
  desired: ReadonlyMap<K, V>,
  actual: ReadonlyMap<K, V>,
  same: (want: V, have: V) => boolean,
  kept: (have: V) => V | 'as is' | undefined,
  keyOf: (k: K, have: V) => D,
  every: number,
): DiffSteps<V, D> {
  const write: V[] = []
  const del: D[] = []
  let n = 0
  for (const [k, want] of desired) {
    if (n++ === every) {
      n = 1
      yield
    }
    const have = actual.get(k)
    if (have === undefined || !same(want, have)) write.push(want)
  }
  for (const [k, have] of actual) {
    if (n++ === every) {
      n = 1
      yield
    }
    if (desired.has(k)) continue
    const k2 = kept(have)
    if (k2 === undefined) del.push(keyOf(k, have))
    else if (k2 !== 'as is') write.push(k2)
  }
  return { write, delete: del }
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.identity === b.identity && a.addrs.join() === b.addrs.join()
}

function sameIpcache(a: IpcacheEntry, b: IpcacheEntry): boolean {
  return a.identity === b.identity && a.scope === b.scope && a.ifindex === b.ifindex
}

export function samePolicy(a: PolicyEntry, b: PolicyEntry): boolean {
  if (a.any !== b.any || a.ranges.length !== b.ranges.length) return false
  return a.ranges.every((r, i) => {
    const o = b.ranges[i]
    return o !== undefined && r.proto === o.proto && r.low === o.low && r.high === o.high
  })
}

export function planIsEmpty(p: DatapathPlan): boolean {
  return [p.endpoints, p.ipcache, p.auth, p.policy].every(
    (c) => c.write.length === 0 && c.delete.length === 0,
  )
}

/** Policy-map writes (and deletes) described one per line; beyond them, one line says how many more. */
export const DESCRIBED_POLICY_ACTIONS = 100

/**
 * Human-readable actions, ids as SPIFFE IDs where `nameOf` knows them (a policy of 100k rules is
 * not 100k lines: see DESCRIBED_POLICY_ACTIONS).
 */
export function describeDatapathPlan(p: DatapathPlan, nameOf: (id: number) => string | undefined): string[] {
  const who = (id: number) => nameOf(id) ?? `identity-id:${id}`
  const out: string[] = []
  const some = <T>(list: readonly T[], what: string, line: (x: T) => string): void => {
    for (const x of list.slice(0, DESCRIBED_POLICY_ACTIONS)) out.push(line(x))
    if (list.length > DESCRIBED_POLICY_ACTIONS)
      out.push(`${what}: ${list.length - DESCRIBED_POLICY_ACTIONS} more entries`)
  }
  some(p.policy.delete, 'policy delete', (a) => `policy delete ${who(a.srcId)} -> ${who(a.dstId)}`)
  for (const a of p.auth.delete) out.push(`auth delete ${who(a.srcId)} -> ${who(a.dstId)}`)
  for (const prefix of p.ipcache.delete) out.push(`ipcache delete ${prefix}`)
  for (const ifindex of p.endpoints.delete) out.push(`endpoint delete ifindex ${ifindex}`)
  for (const e of p.endpoints.write) out.push(`endpoint set ifindex ${e.ifindex} ${who(e.identity)}`)
  for (const e of p.ipcache.write)
    out.push(`ipcache set ${e.prefix} ${who(e.identity)} ${e.scope} if ${e.ifindex}`)
  some(p.policy.write, 'policy set', (e) => `policy set ${who(e.srcId)} -> ${who(e.dstId)} ${rangesText(e)}`)
  for (const a of p.auth.write)
    out.push(`auth set ${who(a.srcId)} -> ${who(a.dstId)} until ${a.expiresAt.toISOString()}`)
  return out
}

/** `any` or `6:5432 17:53-54` (protocol number : port range). */
export function rangesText(e: PolicyEntry): string {
  if (e.any) return 'any'
  return e.ranges.map((r) => `${r.proto}:${r.low === r.high ? r.low : `${r.low}-${r.high}`}`).join(' ')
}

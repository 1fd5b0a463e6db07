/**
 * The datapath as a reconcile target. Writers hand facts (SPIFFE IDs) to the reconciler; every
 * change schedules one reconcile per event-loop turn that takes what the maps hold, computes the
 * desired maps (datapath-desired.ts, pure), diffs them (datapath-plan.ts, pure) and applies the
 * difference with one batch per map (datapath-apply.ts). The same facts twice write nothing.
 *
 * Writers (each replaces only its own facts):
 * - pair authentication: `setProvenPairs` — the whole set of authenticated pairs; remote ipcache
 *   entries are the union of the IPs their SVIDs proved, auth entries both ways, latest expiry;
 * - the peers' inventories (no policy) and tests: `setRemoteIdentity` / `setRemoteIdentities`;
 * - `latchctl debug auth`: `authorize` / `revoke`;
 * - the pair service: `setPolicy` — the running policy, compiled into the policy map (rules whose
 *   identities have no id yet are written by the reconcile that allocates it). A new policy is
 *   prepared a chunk per event-loop turn (policy-map-state.ts: entries, then the diff against the
 *   map, read once); the reconcile that follows applies it with its other batches. A reconcile for
 *   a pair or a workload only writes the rules its new ids complete: it neither re-reads the map
 *   nor revisits 100k rules. Policy hand-overs run one after another; while one is prepared no
 *   policy entry is written (the diff it computes holds against the map it read).
 *
 * Read-back: latchd is the only writer of the endpoints, ipcache and auth maps (the programs only
 * read them; tools open them read-only), so a reconcile diffs against what it holds (`#held`: read
 * at `adopt`, then kept up to date by every applied plan) instead of reading and decoding the
 * three maps again. The GC tick (`collect`) and the reconcile after a failed apply read them from
 * the kernel, so a map changed behind latchd's back is brought back within one GC interval.
 *
 * Restart: `adopt` records what a previous latchd left in the maps under ids the allocation knows.
 * Those remote identities are kept (re-pointed at the current WireGuard ifindex) until a writer
 * claims them or `graceMs` passes (then `collect` forgets the unclaimed ones and every auth entry
 * naming them); adopted auth entries stay until they expire, are revoked, or name a forgotten
 * identity. Entries under ids nobody can name are deleted by the first reconcile (fail closed).
 */
import type { Logger } from 'pino'
import type { AuthEntry, Endpoint, IpcacheEntry, PolicyEntry, PolicyPair } from '../datapath/index.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import { applyDatapathPlan } from './datapath-apply.js'
import {
  type AuthFact,
  authKey,
  type DatapathFacts,
  desiredMaps,
  factsOfProvenPairs,
  identitiesOf,
  type LocalEndpointFact,
  type ProvenPair,
} from './datapath-desired.js'
import type { DatapathMaps } from './datapath-maps.js'
import {
  type ActualMaps,
  type DatapathPlan,
  describeDatapathPlan,
  type MapChanges,
  planDatapath,
  planIsEmpty,
} from './datapath-plan.js'
import type { IdentityAllocator } from './identities.js'
import { POLICY_CHUNK, PolicyMapState } from './policy-map-state.js'

export interface DatapathReconcilerOptions {
  maps: DatapathMaps
  ids: IdentityAllocator
  /** the local workloads with their resolved host-side ifindex (0 = not enforced) */
  local: readonly LocalEndpointFact[]
  /** the WireGuard interface's ifindex now, undefined while it does not exist */
  wireguardIfindex: () => number | undefined
  /** how long remote identities found at start survive without a writer re-asserting them */
  graceMs: number
  now?: () => number
  logger: Logger
}

export interface DatapathReconcileResult {
  changed: boolean
  /** what changed, one line per entry (describeDatapathPlan) */
  actions: string[]
}

export class DatapathReconciler {
  readonly #o: DatapathReconcilerOptions
  readonly #log: Logger
  readonly #now: () => number
  readonly #startedAt: number
  #proven: readonly ProvenPair[] = []
  /** the local workloads now: options.local at start, then setLocal (workloads registered at runtime) */
  #local: readonly LocalEndpointFact[]
  readonly #remote = new Map<string, readonly string[]>()
  readonly #manual = new Map<string, AuthFact>()
  /** remote identities found in the maps at start, not yet claimed: name → addresses */
  readonly #adoptedRemote = new Map<string, string[]>()
  /** authKey(srcId, dstId) of auth entries found at start that no writer holds */
  readonly #adoptedAuth = new Set<string>()
  #scheduled: Promise<DatapathReconcileResult> | undefined
  /** what the endpoints, ipcache and auth maps hold; undefined = read them (see the top of this file) */
  #held: HeldMaps | undefined
  #lastProblems = ''
  /** the running policy's map state; undefined until the first hand-over (the map is left alone) */
  #policy: PolicyMapState | undefined
  /** changes prepared by the last hand-over, applied by the next reconciles from a cursor on */
  #policyPending: PendingPolicy | undefined
  /** a hand-over is being prepared: policy entries wait */
  #policyPreparing = false
  /** an apply failed: the next reconcile diffs the whole policy map against what it reads */
  #policyResync = false
  #policyQueue: Promise<unknown> = Promise.resolve()
  /** entries written and removed since the hand-over began (logged once it is complete) */
  #policyTally = { written: 0, removed: 0 }

  private constructor(o: DatapathReconcilerOptions) {
    this.#o = o
    this.#log = o.logger
    this.#now = o.now ?? Date.now
    this.#local = o.local
    this.#startedAt = this.#now()
  }

  /** Adopts what the maps hold (see the top of this file) and brings them to the local facts. */
  static adopt(o: DatapathReconcilerOptions): DatapathReconciler {
    const r = new DatapathReconciler(o)
    const actual = r.#actual()
    const nameOf = (id: number) => o.ids.nameOf(id)
    let unknown = 0
    for (const e of actual.ipcache) {
      if (e.scope !== 'remote') continue
      const name = nameOf(e.identity)
      if (name === undefined) unknown++
      else r.#adoptedRemote.set(name, [...(r.#adoptedRemote.get(name) ?? []), hostOf(e.prefix)])
    }
    for (const e of actual.auth) {
      if (nameOf(e.srcId) === undefined || nameOf(e.dstId) === undefined) unknown++
      else r.#adoptedAuth.add(authKey(e.srcId, e.dstId))
    }
    if (unknown > 0) {
      o.logger.warn(
        { event: 'datapath_ids_reset', entries: unknown },
        `${unknown} remote ipcache and auth entries name identity ids the allocation does not know: deleting them (fail closed)`,
      )
    }
    if (r.#adoptedRemote.size + r.#adoptedAuth.size > 0) {
      const entries = [...r.#adoptedRemote.values()].reduce((n, ips) => n + ips.length, 0)
      o.logger.info(
        {
          event: 'datapath_remote_adopted',
          identities: r.#adoptedRemote.size,
          entries,
          auth: r.#adoptedAuth.size,
        },
        `kept ${entries} remote ipcache entries of ${r.#adoptedRemote.size} identities and ${r.#adoptedAuth.size} auth entries until their writers re-assert them`,
      )
    }
    r.reconcile()
    return r
  }

  // --- writers -------------------------------------------------------------------------------------

  /** Pair authentication's whole set of authenticated pairs (replaces the previous set). */
  setProvenPairs(pairs: readonly ProvenPair[]): Promise<DatapathReconcileResult> {
    this.#proven = [...pairs]
    return this.schedule()
  }

  /** Every local workload (replaces the previous set): a workload registered or removed at runtime. */
  setLocal(local: readonly LocalEndpointFact[]): Promise<DatapathReconcileResult> {
    this.#local = [...local]
    return this.schedule()
  }

  setRemoteIdentity(spiffeId: string, ips: readonly string[]): Promise<DatapathReconcileResult> {
    this.#remote.set(spiffeId, [...ips])
    return this.schedule()
  }

  /** Replaces every remote identity this writer set; identities it drops are forgotten. */
  setRemoteIdentities(remote: ReadonlyMap<string, readonly string[]>): Promise<DatapathReconcileResult> {
    for (const id of [...this.#remote.keys()]) if (!remote.has(id)) this.#forget(id)
    for (const [id, ips] of remote) this.#remote.set(id, [...ips])
    return this.schedule()
  }

  /** Drops a remote identity's entries and every auth entry naming it (but a proven pair's). */
  removeRemoteIdentity(spiffeId: string): Promise<DatapathReconcileResult> {
    this.#forget(spiffeId)
    return this.schedule()
  }

  /**
   * The running policy (replaces the previous one); the policy map follows it. Resolves once the
   * reconcile that writes it ran. Hand-overs are prepared one at a time, in order.
   */
  setPolicy(policy: CompiledPolicy): Promise<DatapathReconcileResult> {
    const job = this.#policyQueue.then(async () => {
      await this.#preparePolicy(policy)
      // a big change is written POLICY_CHUNK entries per reconcile, one reconcile per turn
      let result = await this.schedule()
      while (this.#policyPending !== undefined && !this.#policyPreparing) {
        const next = await this.schedule()
        result = { changed: result.changed || next.changed, actions: [...result.actions, ...next.actions] }
      }
      return result
    })
    this.#policyQueue = job.catch(() => undefined)
    return job
  }

  async #preparePolicy(policy: CompiledPolicy): Promise<void> {
    // the same rules (in another order, other comments): nothing to prepare, nothing to read
    if (this.#policy?.policy.digest === policy.digest && !this.#policyResync) return
    this.#policyPreparing = true
    try {
      const ids = this.#o.ids
      const { state, changes } = await PolicyMapState.prepare(
        policy,
        (s) => ids.peek(s),
        ids.size,
        this.#o.maps.policy.list(),
      )
      this.#policy = state
      this.#policyPending = { changes, deleted: 0, written: 0 }
      this.#policyResync = false
    } finally {
      this.#policyPreparing = false
    }
  }

  authorize(src: string, dst: string, expiresAt: Date): Promise<DatapathReconcileResult> {
    this.#manual.set(authKey(src, dst), { src, dst, expiresAt })
    return this.schedule()
  }

  /** Deletes auth[(src, dst)] unless a proven pair holds it (then pair authentication decides). */
  revoke(src: string, dst: string): Promise<DatapathReconcileResult> {
    this.#manual.delete(authKey(src, dst))
    const s = this.#o.ids.peek(src)
    const d = this.#o.ids.peek(dst)
    if (s !== undefined && d !== undefined) this.#adoptedAuth.delete(authKey(s, d))
    return this.schedule()
  }

  // --- reconcile -----------------------------------------------------------------------------------

  /** One reconcile at the end of this event-loop turn, however many writes came in it. */
  schedule(): Promise<DatapathReconcileResult> {
    this.#scheduled ??= new Promise((resolve, reject) => {
      setImmediate(() => {
        this.#scheduled = undefined
        try {
          resolve(this.reconcile())
        } catch (err) {
          reject(err)
        }
      })
    })
    return this.#scheduled
  }

  /** Reads the maps, plans and applies now (synchronous: a few batch syscalls). */
  reconcile(): DatapathReconcileResult {
    const facts = this.facts()
    const ids = new Map([...identitiesOf(facts)].map((id) => [id, this.#o.ids.idOf(id)]))
    // the policy map's changes come prepared (setPolicy) or from the rules new ids complete
    // (ids only grow: the allocation's size says when more rules resolve); after a failed apply
    // the whole map is diffed here, once
    const resync = this.#policy !== undefined && this.#policyResync && !this.#policyPreparing
    if (!resync) facts.policy = undefined
    const { desired, problems } = desiredMaps(facts, ids, (s) => this.#o.ids.peek(s))
    // a writer now holds these: from here on it decides
    for (const id of facts.remote.keys()) if (!problems.clashes.has(id)) this.#adoptedRemote.delete(id)
    for (const k of desired.auth.keys()) this.#adoptedAuth.delete(k)
    this.#logProblems(problems.clashes, problems.deferred)
    const keepIds = new Set<number>()
    for (const name of this.#adoptedRemote.keys()) {
      const id = this.#o.ids.peek(name)
      if (id !== undefined) keepIds.add(id)
    }
    const now = new Date(this.#now())
    const actual = this.#actual(resync)
    const plan = planDatapath(desired, actual, {
      now,
      keep: { remoteIds: keepIds, auth: this.#adoptedAuth },
      wireguardIfindex: facts.wireguardIfindex,
    })
    const handOver = this.#policyPending !== undefined && !this.#policyPreparing
    if (!resync) plan.policy = this.#policyChanges()
    if (planIsEmpty(plan)) {
      if (resync) this.#policyResync = false
      return { changed: false, actions: [] }
    }
    const expired = actual.auth.filter((e) => e.expiresAt <= now).length
    const actions = describeDatapathPlan(plan, (id) => this.#o.ids.nameOf(id))
    try {
      applyDatapathPlan(this.#o.maps, plan)
    } catch (err) {
      // what reached the maps is unknown: the next reconcile reads and diffs them whole
      this.#held = undefined
      if (this.#policy !== undefined) this.#policyResync = true
      this.#policyPending = undefined
      this.#policyTally = { written: 0, removed: 0 }
      throw err
    }
    if (this.#held !== undefined) heldAfter(this.#held, plan)
    if (resync) this.#policyResync = false
    this.#policyTally.written += plan.policy.write.length
    this.#policyTally.removed += plan.policy.delete.length
    const state = this.#policy
    if (this.#policyPending !== undefined) {
      // the rest of a big policy change: the next reconcile, next turn
      this.schedule().catch((err: unknown) =>
        this.#log.error({ event: 'datapath_policy_failed', err }, 'writing the policy map failed'),
      )
    } else if (state !== undefined && (handOver || resync)) {
      const { written, removed } = this.#policyTally
      this.#policyTally = { written: 0, removed: 0 }
      this.#log.info(
        {
          event: 'datapath_policy',
          digest: state.policy.digest,
          entries: state.entries.size,
          written,
          removed,
          unresolved: state.waiting,
        },
        `policy map: ${state.entries.size} rules (${written} written, ${removed} removed, ${state.waiting} waiting for their identities)`,
      )
    }
    if (expired > 0)
      this.#log.info(
        { event: 'auth_expired', count: expired },
        `garbage-collected ${expired} expired auth entries`,
      )
    this.#log.debug({ event: 'datapath_reconciled', actions }, `datapath: ${actions.length} changes`)
    return { changed: true, actions }
  }

  /**
   * The prepared hand-over's changes plus the entries of rules new ids complete, at most
   * POLICY_CHUNK of them per reconcile: deletes first (a removed rule stops its flows before
   * anything is added), then writes; what is left stays pending (the cursor moves on, nothing is
   * copied) for the next reconcile, which is scheduled at once.
   */
  #policyChanges(): MapChanges<PolicyEntry, PolicyPair> {
    const state = this.#policy
    if (state === undefined || this.#policyPreparing) return { write: [], delete: [] }
    const ids = this.#o.ids
    const added = state.resolve((s) => ids.peek(s), ids.size)
    if (this.#policyPending === undefined && added.length <= POLICY_CHUNK) return { write: added, delete: [] }
    const p = this.#policyPending ?? { changes: { write: [], delete: [] }, deleted: 0, written: 0 }
    const { write, delete: del } = p.changes
    for (const e of added) write.push(e)
    const out: MapChanges<PolicyEntry, PolicyPair> = {
      write: [],
      delete: del.slice(p.deleted, p.deleted + POLICY_CHUNK),
    }
    p.deleted += out.delete.length
    const room = POLICY_CHUNK - out.delete.length
    if (room > 0) out.write = write.slice(p.written, p.written + room)
    p.written += out.write.length
    this.#policyPending = p.deleted < del.length || p.written < write.length ? p : undefined
    return out
  }

  /**
   * The GC tick: once the grace is over, forget adopted remote identities nobody claimed; then
   * reconcile against the maps read from the kernel (which also deletes expired auth entries and
   * undoes any change made behind latchd's back).
   */
  collect(): DatapathReconcileResult {
    this.#held = undefined
    if (this.#adoptedRemote.size > 0 && this.adoptGraceOver()) {
      const unclaimed = [...this.#adoptedRemote.keys()]
      for (const id of unclaimed) this.#forget(id)
      this.#log.info(
        { event: 'datapath_remote_unclaimed', identities: unclaimed },
        `removed the adopted ipcache entries of ${unclaimed.length} remote identities nobody re-asserted within the grace period`,
      )
    }
    return this.reconcile()
  }

  adoptGraceOver(): boolean {
    return this.#now() - this.#startedAt >= this.#o.graceMs
  }

  /** Every writer's facts merged (what `desiredMaps` is computed from). */
  facts(): DatapathFacts {
    const proven = factsOfProvenPairs(this.#proven)
    const remote = new Map<string, readonly string[]>(this.#remote)
    for (const [id, ips] of proven.remote) {
      remote.set(id, [...new Set([...(remote.get(id) ?? []), ...ips])].sort())
    }
    const auth = new Map<string, AuthFact>(this.#manual)
    for (const [k, a] of proven.auth) {
      const have = auth.get(k)
      if (have === undefined || have.expiresAt < a.expiresAt) auth.set(k, a)
    }
    return {
      local: this.#local,
      wireguardIfindex: this.#o.wireguardIfindex(),
      remote,
      auth,
      policy: this.#policy?.policy,
    }
  }

  /** The remote identities written or kept, and whether each is still only adopted. */
  remoteIdentities(): Map<string, { ips: readonly string[]; adopted: boolean }> {
    const out = new Map<string, { ips: readonly string[]; adopted: boolean }>()
    for (const [id, ips] of this.facts().remote) out.set(id, { ips, adopted: false })
    for (const [id, ips] of this.#adoptedRemote) if (!out.has(id)) out.set(id, { ips, adopted: true })
    return out
  }

  #forget(spiffeId: string): void {
    this.#remote.delete(spiffeId)
    this.#adoptedRemote.delete(spiffeId)
    for (const [k, a] of this.#manual) if (a.src === spiffeId || a.dst === spiffeId) this.#manual.delete(k)
    const id = this.#o.ids.peek(spiffeId)
    if (id === undefined) return
    for (const k of this.#adoptedAuth) {
      const [s, d] = k.split(' ').map(Number)
      if (s === id || d === id) this.#adoptedAuth.delete(k)
    }
  }

  /** What the maps hold: `#held`, or read from the kernel (then held); the policy map read on demand. */
  #actual(withPolicy = false): ActualMaps {
    const m = this.#o.maps
    this.#held ??= {
      endpoints: new Map(m.endpoints.list().map((e) => [e.ifindex, e])),
      ipcache: new Map(m.ipcache.list().map((e) => [e.prefix, e])),
      auth: new Map(
        m.auth
          .list()
          .map((e): [string, AuthEntry] => [
            authKey(e.srcId, e.dstId),
            { srcId: e.srcId, dstId: e.dstId, expiresAt: e.expiresAt },
          ]),
      ),
    }
    const h = this.#held
    return {
      endpoints: [...h.endpoints.values()],
      ipcache: [...h.ipcache.values()],
      auth: [...h.auth.values()],
      ...(withPolicy && { policy: m.policy.list() }),
    }
  }

  #logProblems(clashes: ReadonlyMap<string, string[]>, deferred: readonly string[]): void {
    const key = JSON.stringify([[...clashes], deferred])
    if (key === this.#lastProblems) return
    this.#lastProblems = key
    for (const [identity, ips] of clashes) {
      this.#log.warn(
        { event: 'remote_identity_refused', identity, ip: ips[0] },
        `refused ${identity}: ${ips.join(', ')} is a local workload's address`,
      )
    }
    if (deferred.length > 0) {
      this.#log.warn(
        { event: 'remote_identity_deferred', identities: deferred },
        `no WireGuard interface yet; ${deferred.length} remote identities not written (retried by the next reconcile)`,
      )
    }
  }
}

/** The endpoints, ipcache and auth maps' content, keyed as the maps are. */
interface HeldMaps {
  endpoints: Map<number, Endpoint>
  ipcache: Map<string, IpcacheEntry>
  auth: Map<string, AuthEntry>
}

/** `held` after `plan` was applied to the maps it mirrors. */
function heldAfter(held: HeldMaps, plan: DatapathPlan): void {
  for (const ifindex of plan.endpoints.delete) held.endpoints.delete(ifindex)
  for (const e of plan.endpoints.write) held.endpoints.set(e.ifindex, e)
  for (const prefix of plan.ipcache.delete) held.ipcache.delete(prefix)
  for (const e of plan.ipcache.write) held.ipcache.set(e.prefix, e)
  for (const a of plan.auth.delete) held.auth.delete(authKey(a.srcId, a.dstId))
  for (const e of plan.auth.write) held.auth.set(authKey(e.srcId, e.dstId), e)
}

/** A hand-over's changes and how many of its deletes and writes reconciles have taken so far. */
interface PendingPolicy {
  changes: MapChanges<PolicyEntry, PolicyPair>
  deleted: number
  written: number
}

/** `10.100.2.11/32` → `10.100.2.11` (remote entries are host prefixes). */
function hostOf(prefix: string): string {
  return prefix.replace(/\/(32|128)$/, '')
}

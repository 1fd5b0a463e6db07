/**
 * The node's eBPF datapath as latchd drives it, beside the WireGuard engine: load or ADOPT the
 * pinned programs and maps, put every local workload in endpoints + ipcache and attach the programs
 * to its host-side interface, and implement the IdentityDatapath port (SPIFFE IDs outside, identity
 * ids inside). Remote identities' ipcache entries carry the WireGuard interface's ifindex, so a
 * remote source is accepted only when it arrived through the tunnel.
 *
 * Restart: programs, maps and tc filters stay pinned/attached while latchd is down; the next start
 * adopts them (same program ids), rewrites local entries idempotently and keeps remote entries it
 * finds until their writer (pair authentication, or the peer inventories without a policy)
 * re-asserts them; those nobody re-asserted within `remoteAdoptGraceMs` go with the GC timer.
 */
import type { Logger } from 'pino'
import { asLatchError } from '../base/errors.js'
import {
  Datapath,
  type DatapathEvent,
  type EventSubscription,
  formatPrefix,
  parsePrefix,
  REASONS,
} from '../datapath/index.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import type { MonitorEvent } from '../wire/monitor.js'
import type { DatapathReport, InterfaceReport } from '../wire/status.js'
import { DatapathEvents } from './datapath-events.js'
import { workloadIpcache } from './datapath-report.js'
import { IdentityAllocator, readIdentities } from './identities.js'
import type { AuthPairEntry, AuthRequiredEvent, IdentityDatapath } from './identity-datapath.js'
import { type PolicyEntry, policyEntries } from './policy-entries.js'

export interface DatapathWorkload {
  id: string
  ips: readonly string[]
  /** host-side interface; without one the workload is known (ipcache) but not enforced */
  interface?: string | undefined
}

export interface NodeDatapathOptions {
  pinDir: string
  /** where the SPIFFE ID → identity id allocation is kept (see identities.ts) */
  identitiesFile: string
  wireguardInterface: string
  workloads: readonly DatapathWorkload[]
  logger: Logger
  /** how long remote entries found at start survive without being re-asserted (default 180 s) */
  remoteAdoptGraceMs?: number
  /** period of the one coarse timer that deletes expired auth entries (default 10 s) */
  gcIntervalMs?: number
  now?: () => number
}

export class NodeDatapath implements IdentityDatapath {
  readonly #dp: Datapath
  readonly #ids: IdentityAllocator
  readonly #log: Logger
  readonly #o: NodeDatapathOptions
  readonly #events: DatapathEvents
  readonly #interfaces: InterfaceReport[] = []
  /** remote identity → the addresses written for it */
  readonly #remote = new Map<string, readonly string[]>()
  /** remote identities found in the maps at start, not yet re-asserted */
  readonly #adopted = new Set<string>()
  readonly #startedAt: number
  readonly #localIps = new Set<string>()
  #sub: EventSubscription | undefined
  #policy: CompiledPolicy | undefined
  #gc: NodeJS.Timeout | undefined

  private constructor(dp: Datapath, ids: IdentityAllocator, o: NodeDatapathOptions) {
    this.#dp = dp
    this.#ids = ids
    this.#o = o
    this.#log = o.logger
    this.#startedAt = (o.now ?? Date.now)()
    this.#events = new DatapathEvents((id) => this.#ids.nameOf(id))
  }

  /** Loads or adopts the datapath and programs the local workloads. */
  static start(o: NodeDatapathOptions): NodeDatapath {
    const dp = Datapath.load({ pinDir: o.pinDir })
    try {
      const stored = readIdentities(o.identitiesFile)
      const self = new NodeDatapath(dp, new IdentityAllocator(o.identitiesFile, stored), o)
      const actions = dp.programs.map((p) => `${p.name} ${p.action} (id ${p.id})`)
      const adopted = dp.programs.every((p) => p.action === 'adopted')
      o.logger.info(
        {
          event: 'datapath_loaded',
          pinDir: o.pinDir,
          adopted,
          programs: dp.programs.map((p) => ({ name: p.name, action: p.action, id: p.id })),
        },
        `datapath ${adopted ? 'adopted from' : 'loaded into'} ${o.pinDir}: ${actions.join(', ')}`,
      )
      if (!stored) self.#forgetUnknownIds()
      self.#programLocal()
      self.#adoptRemote()
      self.#sub = dp.subscribe(
        (events) => self.#events.deliver(events),
        (err) => o.logger.warn({ event: 'datapath_event_undecodable' }, asLatchError(err).message),
      )
      self.#gc = setInterval(() => self.#collect(), o.gcIntervalMs ?? 10_000)
      self.#gc.unref()
      return self
    } catch (err) {
      dp.close()
      throw err
    }
  }

  /** Without the allocation file the ids in adopted maps name nobody we know: clear them (fail closed). */
  #forgetUnknownIds(): void {
    const auth = this.#dp.auth.list()
    const ipcache = this.#dp.ipcache.list()
    const endpoints = this.#dp.endpoints.list()
    if (auth.length + ipcache.length + endpoints.length === 0) return
    this.#dp.auth.delete(auth)
    this.#dp.ipcache.delete(ipcache.map((e) => e.prefix))
    for (const e of endpoints) this.#dp.endpoints.delete(e.ifindex)
    this.#log.warn(
      {
        event: 'datapath_ids_reset',
        file: this.#o.identitiesFile,
        auth: auth.length,
        ipcache: ipcache.length,
      },
      `no identity allocation at ${this.#o.identitiesFile}: cleared ${auth.length} auth and ${ipcache.length} ipcache entries whose ids nobody can name`,
    )
  }

  #programLocal(): void {
    const desiredIfindexes = new Set<number>()
    const desiredPrefixes = new Set<string>()
    for (const w of this.#o.workloads) {
      const identity = this.#ids.idOf(w.id)
      for (const ip of w.ips) this.#localIps.add(ip)
      let ifindex = 0
      if (w.interface) {
        try {
          ifindex = this.#dp.ifindex(w.interface)
        } catch (err) {
          const e = asLatchError(err)
          this.#interfaces.push({
            workload: w.id,
            interface: w.interface,
            identity,
            attached: false,
            error: e.message,
          })
          this.#log.error(
            { event: 'datapath_attach_failed', workload: w.id, interface: w.interface },
            e.message,
          )
          continue
        }
        desiredIfindexes.add(ifindex)
        this.#dp.endpoints.set({ ifindex, identity, addrs: [...w.ips] })
      }
      const entries = workloadIpcache(w.ips, identity, ifindex)
      for (const e of entries) desiredPrefixes.add(formatPrefix(parsePrefix(e.prefix)))
      this.#dp.ipcache.upsert(entries)
      if (!w.interface) continue
      try {
        const r = this.#dp.attach(ifindex)
        this.#interfaces.push({ workload: w.id, interface: w.interface, ifindex, identity, attached: true })
        this.#log.info(
          {
            event: 'datapath_attached',
            workload: w.id,
            interface: w.interface,
            ifindex,
            ingress: r.ingress,
            egress: r.egress,
          },
          `datapath on ${w.interface} (${w.id}): ingress ${r.ingress}, egress ${r.egress}`,
        )
      } catch (err) {
        const e = asLatchError(err)
        this.#interfaces.push({
          workload: w.id,
          interface: w.interface,
          ifindex,
          identity,
          attached: false,
          error: e.message,
        })
        this.#log.error(
          { event: 'datapath_attach_failed', workload: w.id, interface: w.interface },
          e.message,
        )
      }
    }
    // local entries of workloads no longer configured
    const staleEndpoints = this.#dp.endpoints.list().filter((e) => !desiredIfindexes.has(e.ifindex))
    for (const e of staleEndpoints) this.#dp.endpoints.delete(e.ifindex)
    const staleLocal = this.#dp.ipcache
      .list()
      .filter((e) => e.scope === 'local' && !desiredPrefixes.has(e.prefix))
      .map((e) => e.prefix)
    this.#dp.ipcache.delete(staleLocal)
    if (staleEndpoints.length + staleLocal.length > 0) {
      this.#log.info(
        { event: 'datapath_stale_removed', endpoints: staleEndpoints.length, ipcache: staleLocal.length },
        `removed ${staleEndpoints.length} endpoints and ${staleLocal.length} ipcache entries of workloads no longer configured`,
      )
    }
  }

  /** Keeps remote entries left by the previous daemon, re-pointed at the current WireGuard ifindex. */
  #adoptRemote(): void {
    const remote = this.#dp.ipcache.list().filter((e) => e.scope === 'remote')
    const unknown: string[] = []
    const byName = new Map<string, string[]>()
    for (const e of remote) {
      const name = this.#ids.nameOf(e.identity)
      if (!name) unknown.push(e.prefix)
      else byName.set(name, [...(byName.get(name) ?? []), e.prefix.replace(/\/(32|128)$/, '')])
    }
    this.#dp.ipcache.delete(unknown)
    const wg = this.#wireguardIfindex()
    if (wg !== undefined)
      this.#dp.ipcache.upsert(
        remote.filter((e) => !unknown.includes(e.prefix)).map((e) => ({ ...e, ifindex: wg })),
      )
    for (const [name, ips] of byName) {
      this.#remote.set(name, ips)
      this.#adopted.add(name)
    }
    if (remote.length > 0) {
      this.#log.info(
        {
          event: 'datapath_remote_adopted',
          identities: byName.size,
          entries: remote.length - unknown.length,
        },
        `kept ${remote.length - unknown.length} remote ipcache entries of ${byName.size} identities until their peers re-assert them`,
      )
    }
  }

  #wireguardIfindex(): number | undefined {
    try {
      return this.#dp.ifindex(this.#o.wireguardInterface)
    } catch {
      return undefined
    }
  }

  #collect(): void {
    try {
      const n = this.#dp.auth.collectExpired()
      if (n > 0)
        this.#log.info({ event: 'auth_expired', count: n }, `garbage-collected ${n} expired auth entries`)
    } catch (err) {
      this.#log.warn({ event: 'auth_gc_failed' }, asLatchError(err).message)
    }
    if (this.#adopted.size === 0 || !this.adoptGraceOver()) return
    const unclaimed = [...this.#adopted]
    try {
      for (const spiffeId of unclaimed) this.#forget(spiffeId)
      this.#log.info(
        { event: 'datapath_remote_unclaimed', identities: unclaimed },
        `removed the adopted ipcache entries of ${unclaimed.length} remote identities nobody re-asserted within the grace period`,
      )
    } catch (err) {
      this.#log.warn({ event: 'datapath_remote_unclaimed_failed' }, asLatchError(err).message)
    }
  }

  /** Drops a remote identity's ipcache entries and every auth entry that names it. */
  #forget(spiffeId: string): void {
    const ips = this.#remote.get(spiffeId) ?? []
    this.#dp.ipcache.delete(ips)
    this.#remote.delete(spiffeId)
    this.#adopted.delete(spiffeId)
    const id = this.#ids.peek(spiffeId)
    if (id !== undefined)
      this.#dp.auth.delete(this.#dp.auth.list().filter((e) => e.srcId === id || e.dstId === id))
  }

  // --- IdentityDatapath ------------------------------------------------------------------------

  async setRemoteIdentity(spiffeId: string, ips: readonly string[]): Promise<void> {
    const clash = ips.find((ip) => this.#localIps.has(ip))
    if (clash) {
      this.#log.warn(
        { event: 'remote_identity_refused', identity: spiffeId, ip: clash },
        `refused ${spiffeId}: ${clash} is a local workload's address`,
      )
      return
    }
    const wg = this.#wireguardIfindex()
    if (wg === undefined) {
      this.#log.warn(
        { event: 'remote_identity_deferred', identity: spiffeId },
        `no ${this.#o.wireguardInterface} yet; ${spiffeId} not written`,
      )
      return
    }
    const known = this.#ids.peek(spiffeId) !== undefined
    const identity = this.#ids.idOf(spiffeId)
    // a new id may complete rules that named an identity nobody here knew yet
    if (!known) this.#syncPolicy()
    this.#dp.ipcache.upsert(
      ips.map((ip) => ({ prefix: ip, identity, scope: 'remote' as const, ifindex: wg })),
    )
    const gone = (this.#remote.get(spiffeId) ?? []).filter((ip) => !ips.includes(ip))
    this.#dp.ipcache.delete(gone)
    this.#remote.set(spiffeId, [...ips])
    this.#adopted.delete(spiffeId)
  }

  async removeRemoteIdentity(spiffeId: string): Promise<void> {
    this.#forget(spiffeId)
  }

  async authorize(src: string, dst: string, expiresAt: Date): Promise<void> {
    this.#dp.auth.set([{ srcId: this.#ids.idOf(src), dstId: this.#ids.idOf(dst), expiresAt }])
  }

  async revoke(src: string, dst: string): Promise<void> {
    const srcId = this.#ids.peek(src)
    const dstId = this.#ids.peek(dst)
    if (srcId !== undefined && dstId !== undefined) this.#dp.auth.delete([{ srcId, dstId }])
  }

  async listAuth(): Promise<AuthPairEntry[]> {
    return this.#dp.auth.list().map((e) => ({
      src: this.#ids.nameOf(e.srcId) ?? `identity-id:${e.srcId}`,
      dst: this.#ids.nameOf(e.dstId) ?? `identity-id:${e.dstId}`,
      expiresAt: e.expiresAt,
    }))
  }

  async setPolicy(policy: CompiledPolicy): Promise<void> {
    this.#policy = policy
    this.#syncPolicy()
  }

  /** Makes the policy map hold exactly the entries of the current policy (stale ones deleted). */
  #syncPolicy(): void {
    if (this.#policy === undefined) return
    const { entries, unresolved } = policyEntries(this.#policy, (id) => this.#ids.peek(id))
    const key = (e: { srcId: number; dstId: number }) => `${e.srcId}:${e.dstId}`
    const same = (a: PolicyEntry, b: PolicyEntry) => JSON.stringify(a) === JSON.stringify(b)
    const current = new Map(this.#dp.policy.list().map((e) => [key(e), e]))
    const desired = new Set(entries.map(key))
    const changed = entries.filter((e) => {
      const c = current.get(key(e))
      return c === undefined || !same(c, e)
    })
    const stale = [...current.values()].filter((e) => !desired.has(key(e)))
    this.#dp.policy.set(changed)
    this.#dp.policy.delete(stale)
    if (changed.length + stale.length > 0) {
      this.#log.info(
        {
          event: 'datapath_policy',
          digest: this.#policy.digest,
          entries: entries.length,
          written: changed.length,
          removed: stale.length,
          unresolved: unresolved.length,
        },
        `policy map: ${entries.length} rules (${changed.length} written, ${stale.length} removed, ${unresolved.length} waiting for their identities)`,
      )
    }
  }

  onAuthRequired(listener: (event: AuthRequiredEvent) => void): () => void {
    return this.#events.onAuthRequired(listener)
  }

  // --- for the daemon ----------------------------------------------------------------------------

  /** Every decoded event (auth-required and drops), with SPIFFE IDs; returns an unsubscribe function. */
  onEvent(listener: (event: MonitorEvent) => void): () => void {
    return this.#events.onEvent(listener)
  }

  /** The remote identities currently written, and whether each is still only adopted. */
  remoteIdentities(): Map<string, { ips: readonly string[]; adopted: boolean }> {
    return new Map([...this.#remote].map(([k, ips]) => [k, { ips, adopted: this.#adopted.has(k) }]))
  }

  /** Whether adopted remote entries may now be removed when nobody re-asserted them. */
  adoptGraceOver(): boolean {
    return (this.#o.now ?? Date.now)() - this.#startedAt >= (this.#o.remoteAdoptGraceMs ?? 180_000)
  }

  report(): DatapathReport {
    const stats = this.#dp.stats.read()
    return {
      pinDir: this.#o.pinDir,
      programs: this.#dp.programs.map((p) => ({ name: p.name, id: p.id, action: p.action })),
      ...(this.#wireguardIfindex() !== undefined && { wireguardIfindex: this.#wireguardIfindex() }),
      interfaces: this.#interfaces.map((i) => {
        if (!i.attached || i.ifindex === undefined) return i
        try {
          return { ...i, attached: this.#dp.attachment(i.ifindex).current }
        } catch (err) {
          return { ...i, attached: false, error: asLatchError(err).message }
        }
      }),
      identities: this.#ids.size,
      remoteIdentities: this.#remote.size,
      authEntries: this.#dp.auth.list().length,
      stats: REASONS.map((r) => ({
        reason: r.name,
        verdict: r.verdict,
        packets: Number(stats[r.name]?.packets ?? 0n),
        bytes: Number(stats[r.name]?.bytes ?? 0n),
      })),
    }
  }

  /** Closes this process's handles; programs, maps and filters stay for the next latchd. */
  close(): void {
    if (this.#gc) clearInterval(this.#gc)
    this.#sub?.close()
    this.#dp.close()
  }
}

export type { DatapathEvent }

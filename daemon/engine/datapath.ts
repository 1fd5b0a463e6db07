/**
 * The node's eBPF datapath as latchd drives it, beside the WireGuard engine: load or ADOPT the
 * pinned programs and maps, attach the programs to every local workload's host-side interface, and
 * implement the IdentityDatapath port (SPIFFE IDs outside, identity ids inside). What the maps hold
 * is reconciled (datapath-reconcile.ts): writers hand facts, one reconcile per event-loop turn diffs
 * the desired maps against the pinned ones and applies one batch per map. Remote identities'
 * ipcache entries carry the WireGuard interface's ifindex, so a remote source is accepted only when
 * it arrived through the tunnel.
 *
 * Restart: programs, maps and tc filters stay pinned/attached while latchd is down; the next start
 * adopts them (same program ids), keeps the remote and auth entries it finds under known ids until
 * their writers re-assert them, and the GC timer forgets those nobody re-asserted within
 * `remoteAdoptGraceMs` and deletes expired auth entries (see datapath-plan.ts).
 */
import type { Logger } from 'pino'
import { asLatchError, LatchError } from '../base/errors.js'
import { type CtTimeouts, Datapath, type DatapathEvent, REASONS } from '../datapath/index.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import type { MonitorEvent } from '../wire/monitor.js'
import type { DatapathReport, InterfaceReport } from '../wire/status.js'
import type { LocalEndpointFact, ProvenPair } from './datapath-desired.js'
import { DatapathEvents } from './datapath-events.js'
import { DatapathReconciler } from './datapath-reconcile.js'
import { IdentityAllocator, readIdentities } from './identities.js'
import type { AuthPairEntry, AuthRequiredEvent, IdentityDatapath } from './identity-datapath.js'

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
  /** conntrack idle timeouts written to the config map at start (a field left out: the built-in default) */
  ctTimeouts?: Partial<CtTimeouts>
  /** how long remote entries found at start survive without being re-asserted (default 180 s) */
  remoteAdoptGraceMs?: number
  /** period of the one coarse timer that forgets unclaimed identities and expired entries (default 10 s) */
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
  #reconciler!: DatapathReconciler
  /** the local workloads the reconcile programs: those of the config, then those registered at runtime */
  #local: LocalEndpointFact[] = []
  #sub: { close(): void } | undefined
  #gc: NodeJS.Timeout | undefined

  private constructor(dp: Datapath, ids: IdentityAllocator, o: NodeDatapathOptions) {
    this.#dp = dp
    this.#ids = ids
    this.#o = o
    this.#log = o.logger
    this.#events = new DatapathEvents(
      (id) => this.#ids.nameOf(id),
      () => this.#wireguardIfindex(),
    )
  }

  /** Loads or adopts the datapath and programs the local workloads. */
  static start(o: NodeDatapathOptions): NodeDatapath {
    const dp = Datapath.load({ pinDir: o.pinDir, ...(o.ctTimeouts && { ctTimeouts: o.ctTimeouts }) })
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
      if (dp.replacedMaps.length > 0) {
        o.logger.info(
          { event: 'datapath_pins_replaced', pinDir: o.pinDir, maps: dp.replacedMaps },
          `replaced the ${dp.replacedMaps.join(', ')} maps an older latch pinned with another layout (tracked flows are picked up again as new flows)`,
        )
      }
      if (!stored) {
        o.logger.warn(
          { event: 'datapath_ids_reset', file: o.identitiesFile },
          `no identity allocation at ${o.identitiesFile}: entries in adopted maps name nobody we know and are cleared`,
        )
      }
      const local = self.#resolveLocal()
      self.#local = local
      self.#reconciler = DatapathReconciler.adopt({
        maps: dp,
        ids: self.#ids,
        local,
        wireguardIfindex: () => self.#wireguardIfindex(),
        graceMs: o.remoteAdoptGraceMs ?? 180_000,
        ...(o.now && { now: o.now }),
        logger: o.logger,
      })
      self.#attachLocal(local)
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

  /** The local workloads with their ifindexes; one whose interface is missing is reported and skipped. */
  #resolveLocal(): LocalEndpointFact[] {
    const out: LocalEndpointFact[] = []
    for (const w of this.#o.workloads) {
      const identity = this.#ids.idOf(w.id)
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
      }
      out.push({ id: w.id, ips: w.ips, ifindex })
    }
    return out
  }

  /** Puts the programs on every resolved workload interface (after its entries are written). */
  #attachLocal(local: readonly LocalEndpointFact[]): void {
    for (const l of local) {
      const w = this.#o.workloads.find((x) => x.id === l.id)
      if (!w?.interface) continue
      const identity = this.#ids.idOf(w.id)
      const ifindex = l.ifindex
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
  }

  // --- workloads registered at runtime (node/workload-registry.ts) -------------------------------

  /**
   * A workload registered at runtime: its endpoint and ipcache entries are written (one reconcile),
   * then the programs go on its host-side interface. Throws LATCH_ERR_WORKLOAD_FAILED, with nothing
   * left behind, when the interface is unknown or the programs cannot be attached.
   */
  async addWorkload(w: DatapathWorkload & { interface: string }): Promise<void> {
    const identity = this.#ids.idOf(w.id)
    let ifindex: number
    try {
      ifindex = this.#dp.ifindex(w.interface)
    } catch (err) {
      throw new LatchError(
        'LATCH_ERR_WORKLOAD_FAILED',
        `cannot attach the datapath to ${w.interface}: ${asLatchError(err).message}`,
        { cause: err, details: { workload: w.id, interface: w.interface } },
      )
    }
    this.#local = [...this.#local.filter((l) => l.id !== w.id), { id: w.id, ips: [...w.ips], ifindex }]
    await this.#reconciler.setLocal(this.#local)
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
      this.#local = this.#local.filter((l) => l.id !== w.id)
      await this.#reconciler.setLocal(this.#local)
      throw new LatchError(
        'LATCH_ERR_WORKLOAD_FAILED',
        `cannot attach the datapath to ${w.interface}: ${asLatchError(err).message}`,
        { cause: err, details: { workload: w.id, interface: w.interface } },
      )
    }
  }

  /**
   * A local workload leaves: its endpoint and ipcache entries go (one reconcile; its auth entries
   * went when pair authentication dropped its pairs), then the programs come off its interface when
   * it is still there. Its identity id stays allocated (never reused for another SPIFFE ID).
   */
  async removeWorkload(id: string): Promise<void> {
    this.#local = this.#local.filter((l) => l.id !== id)
    await this.#reconciler.setLocal(this.#local)
    for (let i = this.#interfaces.length - 1; i >= 0; i--) {
      const r = this.#interfaces[i] as InterfaceReport
      if (r.workload !== id) continue
      this.#interfaces.splice(i, 1)
      if (r.ifindex === undefined || !r.attached) continue
      try {
        this.#dp.detach(r.ifindex)
      } catch (err) {
        // an interface that is already gone took its filters with it
        this.#log.debug(
          { event: 'datapath_detach_skipped', interface: r.interface },
          asLatchError(err).message,
        )
      }
    }
    this.#log.info({ event: 'datapath_workload_removed', workload: id }, `datapath: removed ${id}`)
  }

  /** Whether a local workload's programs are attached (undefined: no interface of it is known). */
  attached(id: string): boolean | undefined {
    return this.#interfaces.find((i) => i.workload === id)?.attached
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
      this.#reconciler.collect()
    } catch (err) {
      this.#log.warn({ event: 'auth_gc_failed' }, asLatchError(err).message)
    }
  }

  // --- IdentityDatapath ------------------------------------------------------------------------

  async setProvenPairs(pairs: readonly ProvenPair[]): Promise<void> {
    await this.#reconciler.setProvenPairs(pairs)
  }

  async revoke(src: string, dst: string): Promise<void> {
    await this.#reconciler.revoke(src, dst)
  }

  async listAuth(): Promise<AuthPairEntry[]> {
    return this.#dp.auth.list().map((e) => ({
      src: this.#ids.nameOf(e.srcId) ?? `identity-id:${e.srcId}`,
      dst: this.#ids.nameOf(e.dstId) ?? `identity-id:${e.dstId}`,
      expiresAt: e.expiresAt,
    }))
  }

  /**
   * The running policy: the reconcile keeps the pinned policy map equal to its rules (of the
   * identities the datapath knows; a rule is written when its identities appear).
   */
  async setPolicy(policy: CompiledPolicy): Promise<void> {
    await this.#reconciler.setPolicy(policy)
  }

  onAuthRequired(listener: (event: AuthRequiredEvent) => void): () => void {
    return this.#events.onAuthRequired(listener)
  }

  // --- other writers (inventories without a policy, `latchctl debug auth`, tests) ---------------

  /** Put or replace a remote identity's IPs (arriving through the WireGuard interface). */
  async setRemoteIdentity(spiffeId: string, ips: readonly string[]): Promise<void> {
    await this.#reconciler.setRemoteIdentity(spiffeId, ips)
  }

  /** Replace every remote identity set here (the peers' inventories); returns whether maps changed. */
  async setRemoteIdentities(remote: ReadonlyMap<string, readonly string[]>): Promise<boolean> {
    return (await this.#reconciler.setRemoteIdentities(remote)).changed
  }

  /** Remove a remote identity's ipcache entries (and every auth entry not held by a proven pair that names it). */
  async removeRemoteIdentity(spiffeId: string): Promise<void> {
    await this.#reconciler.removeRemoteIdentity(spiffeId)
  }

  /** auth[(src, dst)] = expiresAt by hand (`latchctl debug auth add`). */
  async authorize(src: string, dst: string, expiresAt: Date): Promise<void> {
    await this.#reconciler.authorize(src, dst, expiresAt)
  }

  // --- for the daemon ----------------------------------------------------------------------------

  /** Every decoded event (auth-required and drops), with SPIFFE IDs; returns an unsubscribe function. */
  onEvent(listener: (event: MonitorEvent) => void): () => void {
    return this.#events.onEvent(listener)
  }

  /** The remote identities currently written or kept, and whether each is still only adopted. */
  remoteIdentities(): Map<string, { ips: readonly string[]; adopted: boolean }> {
    return this.#reconciler.remoteIdentities()
  }

  /** Whether adopted remote entries may now be removed when nobody re-asserted them. */
  adoptGraceOver(): boolean {
    return this.#reconciler.adoptGraceOver()
  }

  report(): DatapathReport {
    const stats = this.#dp.stats.read()
    const wg = this.#wireguardIfindex()
    return {
      pinDir: this.#o.pinDir,
      programs: this.#dp.programs.map((p) => ({ name: p.name, id: p.id, action: p.action })),
      ...(wg !== undefined && { wireguardIfindex: wg }),
      interfaces: this.#interfaces.map((i) => {
        if (!i.attached || i.ifindex === undefined) return i
        try {
          return { ...i, attached: this.#dp.attachment(i.ifindex).current }
        } catch (err) {
          return { ...i, attached: false, error: asLatchError(err).message }
        }
      }),
      identities: this.#ids.size,
      remoteIdentities: this.remoteIdentities().size,
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

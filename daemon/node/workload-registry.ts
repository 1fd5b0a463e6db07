/**
 * The local workloads of latchd: the `workloads:` of latchd.yaml (registrations made at start, not
 * removable at runtime) and those registered through the control socket (`latchctl workload add`,
 * latch-cni), which are kept in registrations.file and re-adopted on restart.
 *
 * add: check the request (SPIFFE ID in this trust domain, IPs inside workloadCidrs and used by no
 * other local workload, the host-side interface exists and is nobody else's), issue its SVID from the
 * node intermediate (key 0600 under registrations.svidDir, never sent anywhere), attach the datapath,
 * save, announce it to the peers (inventory) and re-plan the pairs the policy allows. Any failing
 * step undoes the earlier ones: a refused request changes nothing. Registering the same workload
 * again (same IPs and interface) is a no-op that answers like the first time.
 * remove: forget it, re-plan (its pairs are revoked at once, both directions), detach, announce, and
 * delete its key.
 * start: a registration whose interface vanished while latchd was down (or now has another
 * ifindex: a new interface that happens to have the name) is dropped, with its key.
 *
 * Mutations run one at a time; waiting for a new workload's pairs does not hold the queue.
 */
import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { parseIp } from '../../certs/index.js'
import { asLatchError, LatchError } from '../base/errors.js'
import { parseSpiffeId } from '../base/spiffe-id.js'
import { ipInCidrs } from '../config/net.js'
import type { Config } from '../config/schema.js'
import type { DatapathWorkload } from '../engine/datapath.js'
import type { InterfaceLookup } from '../engine/interfaces.js'
import type { WorkloadRef } from '../pairauth/planner.js'
import type { WorkloadAddRequest, WorkloadRemoveRequest, WorkloadReport } from '../wire/workload.js'
import { type Registration, readRegistrations, writeRegistrations } from './registrations-file.js'
import type { SvidWorkload } from './workload-svids.js'

/** What the registry needs of the datapath (NodeDatapath). */
export interface RegistryDatapath {
  addWorkload(w: DatapathWorkload & { interface: string }): Promise<void>
  removeWorkload(id: string): Promise<void>
  attached(id: string): boolean | undefined
}

/** What the registry needs of pair authentication (PairService). */
export interface RegistryPairs {
  addWorkload(w: SvidWorkload): Promise<{ notAfter: Date }>
  removeWorkload(id: string): void
  refresh(): void
  pairsOf(id: string): { planned: number; authenticated: number; pending: string[] }
  svidOf(id: string): { notAfter: string; renewAt?: string } | undefined
  onChange(listener: () => void): () => void
  settled(): Promise<void>
}

export interface RegistryParts {
  datapath?: RegistryDatapath | undefined
  pairs?: RegistryPairs | undefined
  /** Send the inventory to the peers (mesh.announceInventory). */
  announce?: (workloads: Array<{ id: string; ips: string[] }>) => void
}

const bad = (message: string, details: Record<string, unknown> = {}) =>
  new LatchError('LATCH_ERR_WORKLOAD_BAD_REQUEST', message, { details })

function canonical(ip: string): string {
  try {
    return parseIp(ip).toString()
  } catch {
    throw bad(`${JSON.stringify(ip)} is not an IP address`, { ip })
  }
}

export class WorkloadRegistry {
  readonly #c: Config
  readonly #log: Logger
  readonly #ifs: InterfaceLookup
  readonly #registered = new Map<string, Registration>()
  #parts: RegistryParts = {}
  /** Requests wait until the datapath and pair authentication are up (bind). */
  #queue: Promise<unknown>
  #bound!: () => void
  #isBound = false
  /** Set when latchd stops before bind(): every queued and later request gets it. */
  #unavailable: LatchError | undefined

  constructor(c: Config, logger: Logger, interfaces: InterfaceLookup) {
    this.#c = c
    this.#log = logger.child({ component: 'workloads' })
    this.#ifs = interfaces
    this.#queue = new Promise<void>((resolve) => {
      this.#bound = resolve
    })
  }

  /**
   * Read the registrations (before the datapath and pair authentication start, which program
   * them); drop those whose interface vanished, with their keys. Returns what was dropped.
   */
  async load(): Promise<Registration[]> {
    const dropped: Registration[] = []
    for (const r of readRegistrations(this.#c.registrations.file)) {
      const now = r.interface === undefined ? undefined : this.#ifs.ifindex(r.interface)
      if (
        r.interface !== undefined &&
        (now === undefined || (r.ifindex !== undefined && now !== r.ifindex))
      ) {
        dropped.push(r)
        continue
      }
      if (this.#c.workloads.some((w) => w.id === r.id)) {
        // latchd.yaml took it over: the config entry wins
        dropped.push(r)
        continue
      }
      this.#registered.set(r.id, r)
    }
    for (const r of dropped) {
      await rm(this.#svidDir(r.id), { recursive: true, force: true })
      this.#log.warn(
        { event: 'workload_dropped', workload: r.id, interface: r.interface },
        `dropped the registration of ${r.id}: its interface ${r.interface ?? '?'} vanished while latchd was down`,
      )
    }
    if (dropped.length > 0) this.#save()
    if (this.#registered.size > 0) {
      this.#log.info(
        { event: 'workloads_adopted', workloads: [...this.#registered.keys()] },
        `re-adopted ${this.#registered.size} registered workloads`,
      )
    }
    return dropped
  }

  /** The components started after load(). */
  bind(parts: RegistryParts): void {
    if (this.#unavailable) return
    this.#parts = parts
    this.#isBound = true
    this.#bound()
  }

  /**
   * latchd stops before bind() (a later component such as pair authentication failed to start):
   * the requests queued until bind, and any later one, fail with LATCH_ERR_WORKLOAD_UNAVAILABLE
   * instead of waiting for ever. Resolves once the queued ones have been answered. No-op once bound.
   */
  async abandon(reason: string): Promise<void> {
    if (this.#isBound || this.#unavailable) return
    this.#unavailable = new LatchError(
      'LATCH_ERR_WORKLOAD_UNAVAILABLE',
      `latchd is not serving workload registrations: ${reason}; nothing was registered`,
    )
    this.#bound()
    await this.#queue
  }

  /** Every local workload (config, then registered). */
  local(): WorkloadRef[] {
    return [
      ...this.#c.workloads.map((w) => ({ id: w.id, ips: w.ips })),
      ...[...this.#registered.values()].map((r) => ({ id: r.id, ips: r.ips })),
    ]
  }

  inventory(): Array<{ id: string; ips: string[] }> {
    return this.local().map((w) => ({ id: w.id, ips: [...w.ips] }))
  }

  /** The registered workloads as the datapath programs them at start. */
  datapathWorkloads(): DatapathWorkload[] {
    return [...this.#registered.values()].map((r) => ({ id: r.id, ips: r.ips, interface: r.interface }))
  }

  /** The registered workloads whose SVIDs latchd issues and renews. */
  svidWorkloads(): SvidWorkload[] {
    return [...this.#registered.values()].map((r) => this.#svidFiles(r))
  }

  get size(): number {
    return this.#c.workloads.length + this.#registered.size
  }

  async add(req: WorkloadAddRequest): Promise<WorkloadReport> {
    const r = await this.#serial(() => this.#add(req))
    if ((req.waitMs ?? 0) > 0) await this.#waitReady(r.id, req.waitMs as number)
    return this.report(r.id) as WorkloadReport
  }

  async remove(req: WorkloadRemoveRequest): Promise<{ removed: boolean; workload?: WorkloadReport }> {
    return this.#serial(() => this.#remove(req))
  }

  list(): WorkloadReport[] {
    return this.local().map((w) => this.report(w.id) as WorkloadReport)
  }

  report(id: string): WorkloadReport | undefined {
    const conf = this.#c.workloads.find((w) => w.id === id)
    const reg = this.#registered.get(id)
    if (conf === undefined && reg === undefined) return undefined
    const pairs = this.#parts.pairs?.pairsOf(id)
    const svid = this.#parts.pairs?.svidOf(id)
    const attached = this.#parts.datapath?.attached(id)
    const iface = reg?.interface ?? conf?.interface
    return {
      id,
      ips: [...(reg?.ips ?? conf?.ips ?? [])],
      source: reg ? 'registered' : 'config',
      ...(iface !== undefined && { interface: iface }),
      ...(reg?.ifindex !== undefined && { ifindex: reg.ifindex }),
      ...(reg?.netns !== undefined && { netns: reg.netns }),
      ...(reg?.netnsInterface !== undefined && { netnsInterface: reg.netnsInterface }),
      ...(reg?.owner !== undefined && { owner: reg.owner }),
      ...(reg && { registeredAt: reg.registeredAt }),
      ...(attached !== undefined && { attached }),
      ...(svid && { svid }),
      ...(pairs && { pairs }),
      ready: pairs === undefined || pairs.pending.length === 0,
    }
  }

  // --- mutations -----------------------------------------------------------------------------------

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const g = (): Promise<T> => {
      if (this.#unavailable) throw this.#unavailable
      return f()
    }
    const run = this.#queue.then(g, g)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #add(req: WorkloadAddRequest): Promise<Registration> {
    const r = await this.#check(req)
    const same = this.#registered.get(r.id)
    if (same !== undefined) return same // checked: the same registration again
    const { datapath, pairs } = this.#parts
    const done: Array<() => unknown> = []
    try {
      if (pairs) {
        await pairs.addWorkload(this.#svidFiles(r))
        done.push(() => pairs.removeWorkload(r.id))
      }
      done.push(() => rm(this.#svidDir(r.id), { recursive: true, force: true }))
      if (datapath && r.interface !== undefined) {
        await datapath.addWorkload({ id: r.id, ips: r.ips, interface: r.interface })
        done.push(() => datapath.removeWorkload(r.id))
      }
      this.#registered.set(r.id, r)
      done.push(() => this.#registered.delete(r.id))
      this.#save()
    } catch (err) {
      for (const undo of done.reverse()) await Promise.resolve(undo()).catch(() => undefined)
      const e = asLatchError(err)
      this.#log.error(
        { event: 'workload_add_failed', workload: r.id, code: e.code },
        `could not register ${r.id}: ${e.message}`,
      )
      if (e.code.startsWith('LATCH_ERR_WORKLOAD_')) throw e
      throw new LatchError('LATCH_ERR_WORKLOAD_FAILED', `could not register ${r.id}: ${e.message}`, {
        cause: e,
        details: { workload: r.id },
      })
    }
    this.#parts.announce?.(this.inventory())
    pairs?.refresh()
    this.#log.info(
      { event: 'workload_added', workload: r.id, ips: r.ips, interface: r.interface, owner: r.owner },
      `registered ${r.id} (${r.ips.join(', ')}) on ${r.interface ?? 'no interface'}`,
    )
    return r
  }

  async #remove(req: WorkloadRemoveRequest): Promise<{ removed: boolean; workload?: WorkloadReport }> {
    if ((req.id === undefined) === (req.owner === undefined))
      throw bad('name the workload to remove by its SPIFFE ID or by its owner, not both')
    const r =
      req.id !== undefined
        ? this.#registered.get(req.id)
        : [...this.#registered.values()].find((x) => x.owner === req.owner)
    if (r === undefined) {
      if (req.id !== undefined && this.#c.workloads.some((w) => w.id === req.id)) {
        throw new LatchError('LATCH_ERR_WORKLOAD_STATIC', `${req.id} is configured in latchd.yaml`, {
          details: { workload: req.id },
        })
      }
      return { removed: false }
    }
    const report = this.report(r.id) as WorkloadReport
    this.#registered.delete(r.id)
    this.#save()
    const { datapath, pairs } = this.#parts
    pairs?.removeWorkload(r.id)
    pairs?.refresh() // revokes its pairs, both directions, at once
    await pairs?.settled() // its auth entries are gone before its endpoint
    await datapath?.removeWorkload(r.id)
    this.#parts.announce?.(this.inventory())
    await rm(this.#svidDir(r.id), { recursive: true, force: true })
    this.#log.info(
      { event: 'workload_removed', workload: r.id, interface: r.interface, owner: r.owner },
      `removed ${r.id}; its pairs are revoked and its key deleted`,
    )
    return { removed: true, workload: { ...report, ready: false } }
  }

  /** The request as a registration, or the first thing wrong with it. */
  async #check(req: WorkloadAddRequest): Promise<Registration> {
    let td: string
    try {
      td = parseSpiffeId(req.id).trustDomain
    } catch (err) {
      throw bad(`${JSON.stringify(req.id)} is not a SPIFFE ID: ${asLatchError(err).message}`, { id: req.id })
    }
    if (td !== this.#c.trustDomain)
      throw bad(`${req.id} is in trust domain "${td}"; this node is in "${this.#c.trustDomain}"`, {
        id: req.id,
      })
    if (this.#c.workloads.some((w) => w.id === req.id)) {
      throw new LatchError(
        'LATCH_ERR_WORKLOAD_STATIC',
        `${req.id} is configured in latchd.yaml; it cannot be registered at runtime too`,
        { details: { workload: req.id } },
      )
    }
    const ips = [...new Set(req.ips.map(canonical))].sort()
    for (const ip of ips) {
      if (!ipInCidrs(ip, this.#c.workloadCidrs))
        throw bad(`${ip} is not inside this node's workloadCidrs (${this.#c.workloadCidrs.join(', ')})`, {
          ip,
        })
      const owner = this.local().find((w) => w.id !== req.id && w.ips.some((x) => canonical(x) === ip))
      if (owner) throw bad(`${ip} already belongs to ${owner.id}`, { ip, workload: owner.id })
    }
    if ((req.netns === undefined) !== (req.netnsInterface === undefined))
      throw bad('--netns and --netns-interface go together')
    let iface = req.interface
    let ifindex: number | undefined
    if (iface !== undefined) {
      // given by the caller (latch-cni finds it from the netns): netns/netnsInterface are recorded
      ifindex = this.#ifs.ifindex(iface)
      if (ifindex === undefined) throw bad(`there is no interface named ${iface} here`, { interface: iface })
    } else if (req.netns !== undefined && req.netnsInterface !== undefined) {
      const peer = await this.#ifs.hostPeerOf(req.netns, req.netnsInterface)
      iface = peer.name
      ifindex = peer.ifindex
    } else {
      throw bad('say where the workload lives: its host-side interface, or a network namespace and interface')
    }
    const taken = [...this.#registered.values()].find((x) => x.id !== req.id && x.interface === iface)
    const takenConf = this.#c.workloads.find((w) => w.interface === iface)
    if (taken || takenConf)
      throw bad(`interface ${iface} already belongs to ${(taken ?? takenConf)?.id}`, { interface: iface })
    const existing = this.#registered.get(req.id)
    if (existing !== undefined) {
      if (existing.ips.join() === ips.join() && existing.interface === iface) return existing
      throw new LatchError(
        'LATCH_ERR_WORKLOAD_EXISTS',
        `${req.id} is registered with ${existing.ips.join(', ')} on ${existing.interface ?? 'no interface'}`,
        { details: { workload: req.id } },
      )
    }
    if (this.size >= this.#c.registrations.max) {
      throw new LatchError(
        'LATCH_ERR_WORKLOAD_LIMIT',
        `this latchd already hosts ${this.size} workloads (registrations.max ${this.#c.registrations.max})`,
      )
    }
    return {
      id: req.id,
      ips,
      interface: iface,
      ...(ifindex !== undefined && { ifindex }),
      ...(req.netns !== undefined && { netns: req.netns }),
      ...(req.netnsInterface !== undefined && { netnsInterface: req.netnsInterface }),
      ...(req.owner !== undefined && { owner: req.owner }),
      registeredAt: new Date().toISOString(),
    }
  }

  /** Until every planned pair of `id` is authenticated and written, or `ms` passed. */
  async #waitReady(id: string, ms: number): Promise<void> {
    const pairs = this.#parts.pairs
    if (pairs === undefined) return
    const ready = () => this.#registered.has(id) === false || pairs.pairsOf(id).pending.length === 0
    if (!ready()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms)
        const off = pairs.onChange(() => {
          if (ready()) done()
        })
        function done(): void {
          clearTimeout(timer)
          off()
          resolve()
        }
      })
    }
    await pairs.settled()
  }

  #save(): void {
    writeRegistrations(this.#c.registrations.file, [...this.#registered.values()])
  }

  #svidDir(id: string): string {
    return join(this.#c.registrations.svidDir, createHash('sha256').update(id).digest('hex').slice(0, 32))
  }

  #svidFiles(r: Registration): SvidWorkload {
    const dir = this.#svidDir(r.id)
    return { id: r.id, ips: r.ips, certFile: join(dir, 'svid.crt'), keyFile: join(dir, 'svid.key') }
  }
}

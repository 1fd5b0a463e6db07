/**
 * Identity-pair authentication in latchd (DESIGN §5): the running policy (hot-reloaded), the local
 * workloads' SVIDs (renewed), the pair-auth listener on the tunnel address, and the PairAuthLoop that
 * keeps every allowed pair of known workloads authenticated. It turns outcomes into IdentityDatapath
 * facts for the datapath: after every change it hands over the whole set of authenticated pairs (with
 * the IPs their SVIDs' IP SANs proved, and their expiry), and the datapath reconcile derives the
 * ipcache and auth entries (engine/datapath-desired.ts). With a policy this service is the ONLY writer
 * of remote ipcache entries: a remote identity is in the ipcache exactly while some authenticated pair
 * proved its IPs (the peer inventories are not used).
 *
 * A node session lost while its tunnel is kept (peer in grace, e.g. its latchd restarting) keeps the
 * peer's pairs planned (the snapshot keeps the last session's facts), so their entries stay until
 * they expire or the grace ends; re-authentication starts as soon as the peer is back.
 *
 * Re-planning happens on policy change, node session change and inventory change (`refresh()`).
 * Datapath writes go through one ordered queue so a set of pairs never overtakes a later one.
 */
import type { Logger } from 'pino'
import { asLatchError, type LatchError } from '../base/errors.js'
import type { GuardOptions } from '../base/guard-options.js'
import { ipInCidrs, sameIp } from '../config/net.js'
import type { Config } from '../config/schema.js'
import { bindToDevice } from '../engine/bind-device.js'
import type { AuthRequiredEvent, IdentityDatapath, ProvenPair } from '../engine/identity-datapath.js'
import { NO_REVOCATIONS, type RevocationList } from '../identity/revocation.js'
import { authenticatePair } from '../pairauth/client.js'
import { WorkloadCredentials } from '../pairauth/credentials.js'
import { PairAuthLoop, type RevokeWhy } from '../pairauth/loop.js'
import type { PairState } from '../pairauth/pair-table.js'
import { desiredPairs, pairKey, type WorkloadRef } from '../pairauth/planner.js'
import { createPairAuthServer, type PairAuthServer } from '../pairauth/server.js'
import type {
  NodeConstraints,
  PairFailure,
  PairOutcome,
  PairSuccess,
  TrustAnchor,
} from '../pairauth/types.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import type { PolicyDiff } from '../policy/types.js'
import { type PolicyWatch, watchPolicy } from '../policy/watch.js'
import type { PairAuthStatus } from '../wire/status.js'
import { policyErrorOf, RecentFailures } from './pair-status.js'
import type { PeerSnapshot } from './peer.js'
import { type SvidWorkload, WorkloadSvids } from './workload-svids.js'

/** An allowed pair of two local workloads (a < b): its entries' expiry, or why it has none. */
interface SameNodePair {
  readonly a: string
  readonly b: string
  readonly expiresAt?: Date
  readonly why?: 'revoked' | 'no_svid' | 'svid_expired'
}

export interface PairServiceOptions {
  config: Config
  logger: Logger
  /** The root CA (trust bundle). */
  rootPem: string
  /** The node certificate and key: what completes TLS for a name this node does not host. */
  node: { certPem: string; keyPem: string }
  /** The revocation list at start (later ones come through setTrust). */
  revocations?: RevocationList
  /** The node sessions (mesh.snapshot()). */
  peers: () => PeerSnapshot[]
  datapath: IdentityDatapath
  /** This node's workloads now (config + registered); default: the config's. */
  local?: () => readonly WorkloadRef[]
  /** Registered workloads whose SVIDs latchd issues (re-adopted at start). */
  registered?: readonly SvidWorkload[]
  /** Admission limits of the pair-auth listener. */
  guard?: GuardOptions
  /**
   * Bind the listener to the tunnel interface (SO_BINDTODEVICE: WireGuard's, or the XFRM interface
   * with IPsec), so that only connections that came through the tunnel reach it. Default true; false only for tests without a real interface.
   */
  bindToWireguard?: boolean
}

/**
 * How long a pair answered before this node planned it (the peer registered a workload and dialed
 * before its inventory update arrived here) is held without being planned before it is dropped.
 */
const EARLY_GRACE_MS = 10_000

/** `10.101.0.1/32` → `10.101.0.1`; `::ffff:10.0.0.1` → `10.0.0.1`. */
function hostOf(address: string): string {
  const a = address.split('/')[0] ?? address
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

export class PairService {
  readonly #o: PairServiceOptions
  readonly #c: Config
  readonly #log: Logger
  readonly #credentials: WorkloadCredentials
  readonly #svids: WorkloadSvids
  readonly #loop: PairAuthLoop
  readonly #failures = new RecentFailures(50)
  readonly #local: () => readonly WorkloadRef[]
  #localIds: ReadonlySet<string> = new Set()
  readonly #listeners = new Set<() => void>()
  /**
   * Answers that succeeded for a pair this node has not planned yet: the peer registered a workload
   * and dialed before its inventory update reached us. They are published at once (so the new
   * workload's first packet passes here too) and handed to the loop when the inventory plans the
   * pair; one not planned within EARLY_GRACE_MS is dropped (its entries go with the next publish).
   */
  readonly #early = new Map<string, { outcome: PairSuccess; at: number }>()
  #earlySweep: NodeJS.Timeout | undefined
  #watch: PolicyWatch | undefined
  #server: PairAuthServer | undefined
  #unsubscribe: (() => void) | undefined
  #writes: Promise<void> = Promise.resolve()
  #publishQueued = false
  #sessions = new Map<string, { tunnel: string; constraints: NodeConstraints }>()
  #byTunnel = new Map<string, string>()
  #stopped = false
  /** The trust the pair handshakes use; one object, updated in place on hot reload. */
  readonly #trust: TrustAnchor & { revocations: RevocationList }

  constructor(o: PairServiceOptions) {
    this.#o = o
    this.#c = o.config
    this.#log = o.logger.child({ component: 'pairauth' })
    this.#trust = {
      rootPem: o.rootPem,
      trustDomain: o.config.trustDomain,
      revocations: o.revocations ?? NO_REVOCATIONS,
    }
    this.#credentials = new WorkloadCredentials(o.rootPem)
    this.#svids = new WorkloadSvids(this.#c, this.#credentials, this.#log, o.registered)
    this.#svids.onRenewed(() => this.#publish())
    const configured = this.#c.workloads.map((w) => ({ id: w.id, ips: w.ips }))
    this.#local = o.local ?? (() => configured)
    this.#localIds = new Set(this.#local().map((w) => w.id))
    this.#loop = new PairAuthLoop({
      authenticate: (p) => this.#authenticate(p),
      onAuthenticated: (p, outcome) => this.#authorized(p, outcome),
      onRevoked: (p, why) => this.#revoked(p, why),
      onFailed: (p, outcome) => this.#failed(outcome, p.initiator ? 'dialed' : 'dialed (fallback)'),
    })
  }

  /** The pair-auth listener's open connections (for the metrics). */
  listenerCounts(): Array<{ listener: string; open: number; unauthenticated: number }> {
    return this.#server ? [{ listener: 'pair_auth', ...this.#server.counts() }] : []
  }

  /** Re-read the policy file now (SIGHUP); applied like a hot reload, an invalid file keeps the current one. */
  reloadPolicy(): Promise<void> {
    return this.#watch?.reload() ?? Promise.resolve()
  }

  get policy(): CompiledPolicy | undefined {
    return this.#watch?.current
  }

  /**
   * Load the policy (a missing or invalid file stops the start: there is no last good policy yet),
   * the SVIDs, then listen on the tunnel address and plan.
   */
  async start(): Promise<void> {
    const file = this.#c.policyFile as string
    this.#watch = await watchPolicy(
      file,
      (next, previous, diff) => this.#policyChanged(next, previous, diff),
      (err) => this.#policyRejected(err),
    )
    const first = this.#watch.current
    this.#write('policy map', () => this.#o.datapath.setPolicy(first))
    await this.#svids.start()
    const server = createPairAuthServer({
      trust: this.#trust,
      credentials: this.#credentials,
      fallback: this.#o.node,
      senderNode: (remote) => this.#byTunnel.get(hostOf(remote.address)),
      constraintsFor: (node) => this.#sessions.get(node)?.constraints,
      policy: () => this.#watch!.current,
      ttlMs: this.#c.pairAuth.ttl,
      onOutcome: (outcome) => this.#accepted(outcome),
      onTlsError: (err, remote) =>
        this.#log.debug(
          { event: 'pair_tls_error', remote },
          `pair-auth TLS from ${remote} failed: ${err.message}`,
        ),
      ...(this.#o.guard && { guard: this.#o.guard }),
      ...(this.#o.bindToWireguard !== false && {
        // the tunnel's interface: WireGuard's, or the XFRM interface decrypted ESP arrives on
        bindToDevice: (fd: number) =>
          bindToDevice(
            fd,
            this.#c.transport === 'ipsec' ? this.#c.ipsec.interface : this.#c.wireguard.interface,
          ),
      }),
    })
    await server.listen(hostOf(this.#c.wireguard.address), this.#c.pairAuth.port)
    this.#server = server
    this.#unsubscribe = this.#o.datapath.onAuthRequired((ev) => this.#demanded(ev))
    this.#log.info(
      {
        event: 'pairauth_started',
        port: this.#c.pairAuth.port,
        policy: file,
        digest: this.#watch.current.digest,
        identities: this.#credentials.ids(),
      },
      `pair authentication on ${hostOf(this.#c.wireguard.address)}:${this.#c.pairAuth.port}, policy ${file}`,
    )
    this.refresh()
  }

  /** Re-plan from the current policy, local workloads and node sessions (idempotent). */
  refresh(): void {
    if (this.#stopped || this.#watch === undefined) return
    const sessions = new Map<string, { tunnel: string; constraints: NodeConstraints }>()
    const remote = new Map<string, WorkloadRef[]>()
    for (const p of this.#o.peers()) {
      if (p.tunnelAddress === undefined || p.workloadCidrs === undefined || p.tunnel === 'down') continue
      sessions.set(p.name, { tunnel: hostOf(p.tunnelAddress), constraints: { cidrs: p.workloadCidrs } })
      remote.set(p.name, p.workloads ?? [])
    }
    this.#sessions = sessions
    this.#byTunnel = new Map([...sessions].map(([name, s]) => [s.tunnel, name]))
    const local = this.#local()
    this.#localIds = new Set(local.map((w) => w.id))
    // a revoked identity (local or remote) has no pairs: leaving the plan revokes their entries
    const revoked = this.#trust.revocations
    this.#loop.update(
      desiredPairs({
        localNode: this.#c.node,
        policy: this.#watch.current,
        local,
        remote,
      }).filter((p) => revoked.revokedId(p.local) === undefined && revoked.revokedId(p.remote) === undefined),
    )
    for (const [key, e] of this.#early) {
      if (!this.#localIds.has(e.outcome.local)) this.#early.delete(key)
      else if (this.#loop.table.get(key) !== undefined) {
        this.#early.delete(key)
        this.#loop.accepted(e.outcome)
      }
    }
    // same-node pairs follow the policy, the SVIDs and the revocation list without a handshake
    this.#publish()
    this.#changed()
  }

  /** Issue (or re-adopt) a registered workload's SVID; the caller then refresh()es. */
  addWorkload(w: SvidWorkload): Promise<{ notAfter: Date }> {
    return this.#svids.add(w)
  }

  /** Stop presenting a workload; the caller then refresh()es, which revokes its pairs at once. */
  removeWorkload(id: string): void {
    this.#svids.remove(id)
  }

  /** The planned pairs of one local workload: how many, how many authenticated, which are pending. */
  pairsOf(local: string): { planned: number; authenticated: number; pending: string[] } {
    let planned = 0
    let authenticated = 0
    const pending: string[] = []
    for (const p of this.#loop.table.list()) {
      if (p.local !== local) continue
      planned++
      if (p.expiresAt !== undefined) authenticated++
      else pending.push(`${p.remote}@${p.node}`)
    }
    return { planned, authenticated, pending: pending.sort() }
  }

  /** The SVID latchd presents for a local workload, if any. */
  svidOf(id: string): { notAfter: string; renewAt?: string } | undefined {
    const i = this.#svids.info().find((x) => x.id === id)
    return i?.notAfter === undefined
      ? undefined
      : { notAfter: i.notAfter, ...(i.renewAt && { renewAt: i.renewAt }) }
  }

  /** Called after every re-plan, authentication and revocation; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves when every datapath write queued so far is done. */
  settled(): Promise<void> {
    return this.#writes
  }

  /** An auth-required event: authenticate the pair it names now (on demand). */
  #demanded(ev: AuthRequiredEvent): void {
    if (ev.dst === undefined) return
    const src = ev.src ?? (ev.viaTunnel ? this.#remoteOwner(ev.srcIp) : undefined)
    if (src === undefined) return
    if (ev.src === undefined) {
      this.#log.debug(
        { event: 'pair_demand_resolved', srcIp: ev.srcIp, remote: src, local: ev.dst },
        `a packet from ${ev.srcIp} (no identity yet) came through the tunnel: ${src}, authenticating with ${ev.dst}`,
      )
    }
    if (this.#localIds.has(ev.dst) && !this.#localIds.has(src)) this.#loop.demand(ev.dst, src)
    else if (this.#localIds.has(src)) this.#loop.demand(src, ev.dst)
  }

  /**
   * The remote workload that owns `ip`, from the checked inventories (the node handshake checked
   * each against its node's name constraints): the one workload listing `ip` in the inventory of the
   * node whose workload CIDRs hold `ip`. The tunnel's own routing (WireGuard's allowed IPs are each
   * peer's workload CIDRs) delivers a packet with that source only from that node. Undefined when
   * no inventory, or more than one, claims it.
   */
  #remoteOwner(ip: string): string | undefined {
    const owners = new Set<string>()
    for (const p of this.#o.peers()) {
      if (p.tunnel === 'down' || p.workloadCidrs === undefined || !ipInCidrs(ip, p.workloadCidrs)) continue
      for (const w of p.workloads ?? []) if (w.ips.some((x) => sameIp(x, ip))) owners.add(w.id)
    }
    return owners.size === 1 ? [...owners][0] : undefined
  }

  #changed(): void {
    for (const l of this.#listeners) l()
  }

  /**
   * New trust material (hot reload): the bundle and node certificate for the next pair handshakes,
   * the revocation list (pairs of revoked identities are cut now), and — when the intermediate
   * changed — every local SVID renewed from the new intermediate at once.
   */
  setTrust(t: {
    rootPem: string
    node: { certPem: string; keyPem: string }
    revocations: RevocationList
    intermediateChanged: boolean
  }): void {
    const rootChanged = t.rootPem !== this.#trust.rootPem
    this.#trust.rootPem = t.rootPem
    this.#trust.revocations = t.revocations
    this.#o.node = t.node
    if (rootChanged) this.#credentials.setRoot(t.rootPem)
    this.#server?.setTrust(t.rootPem, t.node)
    if (t.intermediateChanged) {
      for (const id of this.#credentials.ids()) {
        this.#svids
          .renewNow(id)
          .catch((err: Error) =>
            this.#log.error(
              { event: 'svid_renew_failed', spiffeId: id },
              `renewing ${id} after the intermediate changed: ${err.message}`,
            ),
          )
      }
    }
    this.refresh()
  }

  async status(): Promise<PairAuthStatus> {
    const entries = await this.#o.datapath.listAuth().catch((err: Error) => err)
    const w = this.#watch
    const err = w?.error
    return {
      port: this.#c.pairAuth.port,
      ttlSeconds: this.#c.pairAuth.ttl / 1000,
      policy: {
        file: this.#c.policyFile as string,
        digest: w?.current.digest ?? '',
        allowedPairs: w?.current.allowedPairs().length ?? 0,
        ...(err && { error: policyErrorOf(err) }),
      },
      identities: this.#svids.info(),
      pairs: [...this.#plannedPairStatus(), ...this.#sameNodePairStatus()],
      ...(entries instanceof Error
        ? { authEntriesError: entries.message, authEntries: [] }
        : {
            authEntries: entries.map((e) => ({
              src: e.src,
              dst: e.dst,
              expiresAt: e.expiresAt.toISOString(),
            })),
          }),
      recentFailures: this.#failures.list(),
    }
  }

  #plannedPairStatus(): PairAuthStatus['pairs'] {
    return this.#loop.table
      .list()
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((p) => ({
        local: p.local,
        remote: p.remote,
        node: p.node,
        initiator: p.initiator,
        state: p.expiresAt !== undefined ? 'authenticated' : p.inFlight ? 'authenticating' : 'pending',
        ...(p.expiresAt !== undefined && { expiresAt: new Date(p.expiresAt).toISOString() }),
        ...(p.remoteIps.length > 0 && { remoteIps: [...p.remoteIps] }),
        failures: p.failures,
        ...(p.lastReason !== undefined && { lastReason: p.lastReason }),
      }))
  }

  #sameNodePairStatus(): PairAuthStatus['pairs'] {
    return this.#sameNodeCandidates().map((c) => ({
      local: c.a,
      remote: c.b,
      node: this.#c.node,
      initiator: false,
      sameNode: true,
      state: c.expiresAt !== undefined ? 'authenticated' : 'pending',
      ...(c.expiresAt !== undefined && { expiresAt: c.expiresAt.toISOString() }),
      failures: 0,
      ...(c.why !== undefined && { lastReason: c.why }),
    }))
  }

  /** Renew a local workload's SVID now. */
  renewNow(id: string): Promise<unknown> {
    return this.#svids.renewNow(id)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#earlySweep) clearInterval(this.#earlySweep)
    this.#unsubscribe?.()
    this.#watch?.close()
    this.#svids.stop()
    this.#loop.stop()
    await this.#server?.close(true)
    await this.#writes
  }

  #authenticate(p: PairState): Promise<PairOutcome> {
    const s = this.#sessions.get(p.node)
    return authenticatePair({
      trust: this.#trust,
      credentials: this.#credentials,
      local: p.local,
      remote: p.remote,
      peer: { node: p.node, address: s?.tunnel ?? '', port: this.#c.pairAuth.port },
      localAddress: hostOf(this.#c.wireguard.address),
      constraints: s?.constraints,
      policy: this.#watch!.current,
      ttlMs: this.#c.pairAuth.ttl,
    })
  }

  #accepted(outcome: PairOutcome): void {
    if (!outcome.ok) this.#failed(outcome, 'answered')
    else if (
      outcome.remoteNode !== undefined &&
      this.#localIds.has(outcome.local) &&
      this.#loop.table.get(pairKey(outcome.local, outcome.remote, outcome.remoteNode)) === undefined
    ) {
      this.#acceptedEarly(outcome)
      return
    }
    this.#loop.accepted(outcome)
  }

  #acceptedEarly(outcome: PairSuccess): void {
    this.#early.set(pairKey(outcome.local, outcome.remote, outcome.remoteNode as string), {
      outcome,
      at: Date.now(),
    })
    this.#publish()
    this.#log.info(
      {
        event: 'pair_authenticated_early',
        local: outcome.local,
        remote: outcome.remote,
        node: outcome.remoteNode,
      },
      `authenticated ${outcome.local} ↔ ${outcome.remote} on ${outcome.remoteNode} before its inventory arrived`,
    )
    this.#earlySweep ??= setInterval(() => this.#sweepEarly(), EARLY_GRACE_MS / 2)
    this.#earlySweep.unref()
  }

  #sweepEarly(): void {
    const now = Date.now()
    let dropped = 0
    for (const [key, e] of this.#early) {
      if (now - e.at < EARLY_GRACE_MS) continue
      this.#early.delete(key)
      dropped++
      this.#log.info(
        {
          event: 'pair_revoked',
          local: e.outcome.local,
          remote: e.outcome.remote,
          node: e.outcome.remoteNode,
          why: 'never-planned',
        },
        `dropped ${e.outcome.local} ↔ ${e.outcome.remote}: ${e.outcome.remoteNode} never listed ${e.outcome.remote}`,
      )
    }
    if (dropped > 0) this.#publish()
    if (this.#early.size === 0 && this.#earlySweep) {
      clearInterval(this.#earlySweep)
      this.#earlySweep = undefined
    }
  }

  /**
   * Hands the datapath the whole set of authenticated pairs; it works out the entries (remote IPs =
   * the union its pairs proved, auth both ways, latest expiry) and writes the difference in one
   * reconcile. Called after every change of the table's authenticated set.
   */
  #publish(): void {
    if (this.#publishQueued) return
    this.#publishQueued = true
    const dp = this.#o.datapath
    this.#write('authenticated pairs', () => {
      // taken when the write runs: every change queued before it is in this one set
      this.#publishQueued = false
      const pairs: ProvenPair[] = []
      for (const p of this.#loop.table.list()) {
        if (p.expiresAt === undefined) continue
        pairs.push({
          local: p.local,
          remote: p.remote,
          remoteIps: p.remoteIps,
          expiresAt: new Date(p.expiresAt),
        })
      }
      for (const { outcome: o } of this.#early.values()) {
        pairs.push({ local: o.local, remote: o.remote, remoteIps: o.remoteIps, expiresAt: o.expiresAt })
      }
      pairs.push(...this.#sameNodePairs())
      return dp.setProvenPairs(pairs)
    })
  }

  /** The same-node pairs that have entries (see #sameNodeCandidates). */
  #sameNodePairs(): ProvenPair[] {
    const out: ProvenPair[] = []
    for (const c of this.#sameNodeCandidates()) {
      if (c.expiresAt !== undefined)
        out.push({ local: c.a, remote: c.b, remoteIps: [], expiresAt: c.expiresAt })
    }
    return out
  }

  /**
   * Allowed pairs of two workloads of this node (policy.pairAllowed either way). No handshake can
   * prove more than latchd already knows: it holds both SVIDs, and the datapath checks each end's
   * source address on its own interface. Entries both ways until the earlier of the two SVIDs'
   * notAfter (a renewal republishes); a workload without a usable SVID or on the revocation list
   * has none (`why` says which). Cost: min(local², allowed pairs) lookups.
   */
  #sameNodeCandidates(): SameNodePair[] {
    const policy = this.#watch?.current
    if (policy === undefined || this.#localIds.size < 2) return []
    const revoked = this.#trust.revocations
    const now = Date.now()
    const out: SameNodePair[] = []
    const add = (a: string, b: string) => {
      if (revoked.revokedId(a) !== undefined || revoked.revokedId(b) !== undefined) {
        out.push({ a, b, why: 'revoked' })
        return
      }
      const ca = this.#credentials.get(a)
      const cb = this.#credentials.get(b)
      if (ca === undefined || cb === undefined) {
        out.push({ a, b, why: 'no_svid' })
        return
      }
      const expiresAt = ca.notAfter < cb.notAfter ? ca.notAfter : cb.notAfter
      if (expiresAt.getTime() <= now) out.push({ a, b, why: 'svid_expired' })
      else out.push({ a, b, expiresAt })
    }
    const local = [...this.#localIds].sort()
    const allowed = policy.allowedPairs()
    if (local.length * local.length <= allowed.length) {
      for (let i = 0; i < local.length; i++) {
        for (let j = i + 1; j < local.length; j++) {
          const a = local[i] as string
          const b = local[j] as string
          if (policy.pairAllowed(a, b)) add(a, b)
        }
      }
    } else {
      for (const { a, b } of allowed) if (a !== b && this.#localIds.has(a) && this.#localIds.has(b)) add(a, b)
    }
    return out
  }

  #authorized(p: PairState, outcome: PairSuccess): void {
    this.#publish()
    this.#log.info(
      {
        event: 'pair_authenticated',
        local: p.local,
        remote: p.remote,
        node: p.node,
        role: outcome.role,
        expiresAt: outcome.expiresAt,
        durationMs: outcome.durationMs,
      },
      `authenticated ${p.local} ↔ ${p.remote} on ${p.node} until ${outcome.expiresAt.toISOString()}`,
    )
    this.#changed()
  }

  #revoked(p: PairState, why: RevokeWhy): void {
    // a replica of the remote identity on another node may still hold the same (local, remote) entry
    const stillHeld = this.#loop.table
      .list()
      .some((o) => o !== p && o.local === p.local && o.remote === p.remote && o.expiresAt !== undefined)
    this.#log.info(
      { event: 'pair_revoked', local: p.local, remote: p.remote, node: p.node, why, stillHeld },
      `revoked ${p.local} ↔ ${p.remote} on ${p.node} (${why})`,
    )
    // the pair left the authenticated set: the datapath drops what no other pair holds; entries
    // written by hand or adopted at start go too
    this.#publish()
    if (!stillHeld) this.#revokeBoth(p.local, p.remote)
    this.#changed()
  }

  #revokeBoth(a: string, b: string): void {
    const dp = this.#o.datapath
    this.#write(`revoke ${a} ↔ ${b}`, () => Promise.all([dp.revoke(a, b), dp.revoke(b, a)]))
  }

  #failed(outcome: PairFailure, how: string): void {
    this.#failures.add(outcome)
    const definitive = outcome.by !== 'transport' && outcome.reason !== 'unknown_node'
    this.#log[definitive ? 'warn' : 'info'](
      {
        event: 'pair_refused',
        local: outcome.local,
        remote: outcome.remote,
        node: outcome.remoteNode,
        role: outcome.role,
        reason: outcome.reason,
        by: outcome.by,
        certReason: outcome.certReason,
      },
      `pair ${outcome.local ?? '?'} ↔ ${outcome.remote ?? '?'} (${how}, ${outcome.remoteNode ?? 'unknown node'}) not authenticated: ${outcome.reason} (by ${outcome.by}): ${outcome.message}`,
    )
  }

  #policyChanged(next: CompiledPolicy, _previous: CompiledPolicy, diff: PolicyDiff): void {
    this.#log.info(
      {
        event: 'policy_reloaded',
        digest: next.digest,
        added: diff.added.length,
        removed: diff.removed.length,
      },
      `policy reloaded: ${diff.added.length} pairs allowed, ${diff.removed.length} no longer allowed`,
    )
    // the kernel enforces the new rules at once (established flows included; a policy past
    // POLICY_CHUNK rules is prepared over a few event-loop turns first), then entries of pairs
    // the policy stopped allowing go, whoever wrote them
    this.#write('policy map', () => this.#o.datapath.setPolicy(next))
    for (const { a, b } of diff.removed) {
      if (this.#localIds.has(a) || this.#localIds.has(b)) this.#revokeBoth(a, b)
    }
    this.refresh()
  }

  #policyRejected(err: LatchError): void {
    const e = policyErrorOf(err)
    this.#log.error(
      { event: 'policy_rejected', code: err.code, file: e.file, problems: e.problems },
      `kept the running policy: ${err.message}`,
    )
  }

  #write(what: string, f: () => Promise<unknown>): void {
    this.#writes = this.#writes.then(f).then(
      () => undefined,
      (err: unknown) => {
        const e = asLatchError(err)
        this.#log.error(
          { event: 'datapath_write_failed', code: e.code },
          `datapath: ${what} failed: ${e.message}`,
        )
      },
    )
  }
}

/**
 * Identity-pair authentication in latchd (DESIGN §5): the running policy (hot-reloaded), the local
 * workloads' SVIDs (renewed), the pair-auth listener on the tunnel address, and the PairAuthLoop that
 * keeps every allowed pair of known workloads authenticated. It turns outcomes into IdentityDatapath
 * writes: a success sets the remote identity's IPs (from the SVID's IP SANs only) and authorizes both
 * directions until the outcome's expiry; a removed, refused or expired pair is revoked both ways at once.
 * With a policy this service is the ONLY writer of remote ipcache entries: a remote identity is in the
 * ipcache exactly while some authenticated pair proved its IPs (the peer inventories are not used).
 *
 * A node session lost while its tunnel is kept (peer in grace, e.g. its latchd restarting) keeps the
 * peer's pairs planned (the snapshot keeps the last session's facts), so their entries stay until
 * they expire or the grace ends; re-authentication starts as soon as the peer is back.
 *
 * Re-planning happens on policy change, node session change and inventory change (`refresh()`).
 * Datapath writes go through one ordered queue so an authorize never overtakes a later revoke.
 */
import type { Logger } from 'pino'
import { asLatchError, type LatchError } from '../base/errors.js'
import type { GuardOptions } from '../base/guard-options.js'
import type { Config } from '../config/schema.js'
import { bindToDevice } from '../engine/bind-device.js'
import type { IdentityDatapath } from '../engine/identity-datapath.js'
import { authenticatePair } from '../pairauth/client.js'
import { WorkloadCredentials } from '../pairauth/credentials.js'
import { PairAuthLoop, type RevokeWhy } from '../pairauth/loop.js'
import type { PairState } from '../pairauth/pair-table.js'
import { desiredPairs, type WorkloadRef } from '../pairauth/planner.js'
import { createPairAuthServer, type PairAuthServer } from '../pairauth/server.js'
import type { NodeConstraints, PairFailure, PairOutcome, PairSuccess } from '../pairauth/types.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import type { PolicyDiff } from '../policy/types.js'
import { type PolicyWatch, watchPolicy } from '../policy/watch.js'
import type { PairAuthStatus } from '../wire/status.js'
import { policyErrorOf, RecentFailures } from './pair-status.js'
import type { PeerSnapshot } from './peer.js'
import { WorkloadSvids } from './workload-svids.js'

export interface PairServiceOptions {
  config: Config
  logger: Logger
  /** The root CA (trust bundle). */
  rootPem: string
  /** The node certificate and key: what completes TLS for a name this node does not host. */
  node: { certPem: string; keyPem: string }
  /** The node sessions (mesh.snapshot()). */
  peers: () => PeerSnapshot[]
  datapath: IdentityDatapath
  /** Admission limits of the pair-auth listener. */
  guard?: GuardOptions
  /**
   * Bind the listener to the WireGuard interface (SO_BINDTODEVICE), so that only connections that
   * came through the tunnel reach it. Default true; false only for tests without a real interface.
   */
  bindToWireguard?: boolean
}

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
  readonly #localIds: ReadonlySet<string>
  #watch: PolicyWatch | undefined
  #server: PairAuthServer | undefined
  #unsubscribe: (() => void) | undefined
  #writes: Promise<void> = Promise.resolve()
  #sessions = new Map<string, { tunnel: string; constraints: NodeConstraints }>()
  #byTunnel = new Map<string, string>()
  #stopped = false

  constructor(o: PairServiceOptions) {
    this.#o = o
    this.#c = o.config
    this.#log = o.logger.child({ component: 'pairauth' })
    this.#credentials = new WorkloadCredentials(o.rootPem)
    this.#svids = new WorkloadSvids(this.#c, this.#credentials, this.#log)
    this.#localIds = new Set(this.#c.workloads.map((w) => w.id))
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
      trust: { rootPem: this.#o.rootPem, trustDomain: this.#c.trustDomain },
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
        bindToDevice: (fd: number) => bindToDevice(fd, this.#c.wireguard.interface),
      }),
    })
    await server.listen(hostOf(this.#c.wireguard.address), this.#c.pairAuth.port)
    this.#server = server
    this.#unsubscribe = this.#o.datapath.onAuthRequired((ev) => {
      if (ev.src === undefined || ev.dst === undefined) return
      if (this.#localIds.has(ev.dst) && !this.#localIds.has(ev.src)) this.#loop.demand(ev.dst, ev.src)
      else if (this.#localIds.has(ev.src)) this.#loop.demand(ev.src, ev.dst)
    })
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
    this.#loop.update(
      desiredPairs({
        localNode: this.#c.node,
        policy: this.#watch.current,
        local: this.#c.workloads.map((w) => ({ id: w.id, ips: w.ips })),
        remote,
      }),
    )
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
      pairs: this.#loop.table
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
        })),
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

  /** Renew a local workload's SVID now. */
  renewNow(id: string): Promise<unknown> {
    return this.#svids.renewNow(id)
  }

  async stop(): Promise<void> {
    this.#stopped = true
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
      trust: { rootPem: this.#o.rootPem, trustDomain: this.#c.trustDomain },
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
    this.#loop.accepted(outcome)
  }

  /** The IPs the authenticated pairs with `remote` proved (their SVIDs' IP SANs), sorted. */
  #provenIps(remote: string): string[] {
    const ips = new Set<string>()
    for (const p of this.#loop.table.list()) {
      if (p.remote === remote && p.expiresAt !== undefined) for (const ip of p.remoteIps) ips.add(ip)
    }
    return [...ips].sort()
  }

  #authorized(p: PairState, outcome: PairSuccess): void {
    // ipcache: the union of the IPs every authenticated pair with this remote identity proved
    const ips = [...new Set([...outcome.remoteIps, ...this.#provenIps(p.remote)])].sort()
    const dp = this.#o.datapath
    this.#write(`authorize ${p.local} ↔ ${p.remote}`, async () => {
      await dp.setRemoteIdentity(p.remote, ips)
      await dp.authorize(p.local, p.remote, outcome.expiresAt)
      await dp.authorize(p.remote, p.local, outcome.expiresAt)
    })
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
    if (!stillHeld) this.#revokeBoth(p.local, p.remote)
    // this service is the one writer of remote ipcache entries: they live exactly as long as some
    // authenticated pair proved them (`p` no longer counts: it left the table or lost its expiry)
    const ips = this.#provenIps(p.remote)
    const dp = this.#o.datapath
    if (ips.length > 0) this.#write(`ipcache ${p.remote}`, () => dp.setRemoteIdentity(p.remote, ips))
    else this.#write(`forget ${p.remote}`, () => dp.removeRemoteIdentity(p.remote))
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
    // the kernel enforces the new rules at once (established flows included), then
    // entries of pairs the policy stopped allowing go, whoever wrote them
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

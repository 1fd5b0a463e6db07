/**
 * etcd discovery: this node registers itself under `<prefix><node>` with a lease it keeps alive, and
 * watches the prefix; the other nodes' registrations become the peer list (EtcdView decides what).
 *
 * The client authenticates to etcd with TLS client certificates. Fail static throughout:
 *  - etcd unreachable or partitioned: the view is frozen (no event, no change), so every peer, tunnel
 *    and pair stays; the watch reconnects by itself and replays from the revision it had.
 *  - the watch is cancelled (its revision was compacted while we were away) or cannot be made: a full
 *    listing resyncs the view, then a new watch starts at the listing's revision + 1.
 *  - the lease is lost (expired during an outage): a new lease, and the record is written again, with
 *    backoff until etcd answers. Someone overwriting or deleting our record: written again, logged.
 *  - the client itself does not come back (seen in the lab after all members were killed: the gRPC
 *    channels' reconnect backoff had grown to tens of seconds, and a watch or keep-alive stream bound
 *    to one member stayed down while unary calls to another worked): after RECOVER_AFTER_MS without a
 *    connected watch and a registration, the client is replaced by a new one (fresh channels), the
 *    record is put again under a new lease and the view resyncs by a full listing and a watch from
 *    its revision + 1 (so nothing missed during the outage, and compaction does not matter). Every
 *    etcd call of the view has a deadline, so none can hang a resync.
 * The record is never revoked on stop: a restarting latchd puts the same record again and the other
 * nodes see no change; a node that stays away loses its record when the lease TTL ends, and peers
 * keep it for their grace period after that.
 */
import { readFile } from 'node:fs/promises'
import { ConsecutiveBreaker, circuitBreaker, ExponentialBackoff, handleWhen } from 'cockatiel'
import { Etcd3, type IKeyValue, isRecoverableError, type Lease, type Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { readPrivateKey } from '../../certs/keys.js'
import { Backoff } from '../base/backoff.js'
import { type Clock, systemClock, type TimerHandle } from '../base/clock.js'
import { asLatchError, LatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import type { DiscoveryStatus } from '../wire/status.js'
import { encodeRecord, type NodeRecord, recordKey } from './etcd-record.js'
import { EtcdView, type RejectedRecord } from './etcd-view.js'
import { diffPeers, type PeerEntry } from './peers-file.js'
import type { Discovery, DiscoveryCallbacks } from './types.js'

export type EtcdConfig = NonNullable<Config['etcd']>

export interface EtcdDiscoveryOptions extends DiscoveryCallbacks {
  etcd: EtcdConfig
  /** This node's registration. */
  self: NodeRecord
  /** How long a vanished registration stays a peer (config peerGracePeriod). */
  gracePeriodMs: number
  logger: Logger
  clock?: Clock
  /** How long start() waits for the first listing before going on with no peers; default 5 s. */
  startTimeoutMs?: number
}

const RETRY = { baseMs: 250, capMs: 5000 }
/** No connected watch for this long (no registration: this + CALL_DEADLINE_MS): replace the client. */
export const RECOVER_AFTER_MS = 3000
/** The longest a listing or a watch creation may take before it counts as failed. */
const CALL_DEADLINE_MS = 5000
/**
 * gRPC channel options: reconnect quickly once a member is back (gRPC's default backoff grows to
 * 120 s, and a replaced client shares the process-wide subchannels, so it would inherit that), and
 * HTTP/2 pings to notice a member that vanished without closing the connection (a partition). etcd
 * allows pings every 5 s by default (--grpc-keepalive-min-time). Not a local subchannel pool: a
 * closed client's subchannels would stay alive.
 */
const GRPC_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5000,
}

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

async function readTls(e: EtcdConfig): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  const read = async (what: string, file: string) => {
    try {
      return await readFile(file)
    } catch (err) {
      throw new LatchError(
        'LATCH_ERR_DISCOVERY_ETCD_TLS',
        `etcd.${what} ${file} cannot be read: ${(err as Error).message}`,
        {
          cause: err,
          details: { file },
        },
      )
    }
  }
  const ca = await read('caFile', e.caFile)
  const cert = await read('certFile', e.certFile)
  let key: string
  try {
    key = await readPrivateKey(e.keyFile)
  } catch (err) {
    const le = asLatchError(err)
    throw new LatchError('LATCH_ERR_DISCOVERY_ETCD_TLS', `etcd.keyFile: ${le.message}`, {
      cause: err,
      details: { file: e.keyFile },
    })
  }
  return { ca, cert, key: Buffer.from(key) }
}

export class EtcdDiscovery implements Discovery {
  readonly backend = 'etcd'
  readonly #o: EtcdDiscoveryOptions
  readonly #clock: Clock
  readonly #view: EtcdView
  readonly #key: string
  readonly #value: string
  readonly #log: Logger
  #client: Etcd3 | undefined
  #tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined
  #clients = 0
  #watchOkAt = 0
  #registeredAt = 0
  #replacedAt = 0
  #superviseTimer: NodeJS.Timeout | undefined
  #wake: (() => void) | undefined
  #peers: readonly PeerEntry[] = []
  #stopped = false
  // registration
  #lease: Lease | undefined
  #registered = false
  #everRegistered = false
  #registering: Promise<void> | undefined
  #keepTimer: NodeJS.Timeout | undefined
  readonly #regBackoff = new Backoff(RETRY)
  // view
  #watcher: Watcher | undefined
  #connected = false
  #revision: string | undefined
  #resyncs = 0
  #lastSyncAt: number | undefined
  #syncing: Promise<void> | undefined
  #syncAgain = false
  readonly #syncBackoff = new Backoff(RETRY)
  #syncTimer: TimerHandle | undefined
  #expiryTimer: TimerHandle | undefined
  #publishQueued = false
  #lastError: { message: string; at: number } | undefined
  #outage = false

  constructor(o: EtcdDiscoveryOptions) {
    this.#o = o
    this.#clock = o.clock ?? systemClock
    this.#view = new EtcdView({ prefix: o.etcd.prefix, self: o.self.name, gracePeriodMs: o.gracePeriodMs })
    this.#key = recordKey(o.etcd.prefix, o.self.name)
    this.#value = encodeRecord(o.self)
    this.#log = o.logger.child({ component: 'discovery' })
  }

  get peers(): readonly PeerEntry[] {
    return this.#peers
  }

  async start(): Promise<readonly PeerEntry[]> {
    this.#tls = await readTls(this.#o.etcd)
    this.#client = this.#newClient()
    this.#replacedAt = this.#clock.now()
    this.#superviseTimer = setInterval(() => this.#supervise(), 500)
    this.#superviseTimer.unref()
    void this.#register()
    const first = this.#resync()
    const timeoutMs = this.#o.startTimeoutMs ?? 5000
    let timer: NodeJS.Timeout | undefined
    await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))])
    clearTimeout(timer)
    if (this.#revision === undefined) {
      this.#log.error(
        { event: 'etcd_unavailable', endpoints: this.#o.etcd.endpoints },
        `no answer from etcd within ${timeoutMs} ms; starting with no peers, retrying in the background`,
      )
    }
    this.#peers = this.#view.peers()
    return this.#peers
  }

  #newClient(): Etcd3 {
    const tls = this.#tls
    if (!tls) throw new LatchError('LATCH_ERR_INTERNAL_BUG', 'etcd client before the TLS files were read')
    this.#clients++
    return new Etcd3({
      hosts: [...this.#o.etcd.endpoints],
      credentials: { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key },
      grpcOptions: GRPC_OPTIONS,
      faultHandling: {
        // a member that failed 3 calls in a row is skipped for 1 s (etcd3's default: 5 s)
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: 1000,
            breaker: new ConsecutiveBreaker(3),
          }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
      },
    })
  }

  /** Replace a client that did not recover by itself (header): register again, list again. */
  #supervise(): void {
    if (this.#stopped) return
    const now = this.#clock.now()
    if (this.#connected) this.#watchOkAt = now
    if (this.#registered) this.#registeredAt = now
    // a registration attempt may take up to its deadline: do not cut it short
    const stuck =
      now - Math.max(this.#watchOkAt, this.#replacedAt) >= RECOVER_AFTER_MS ||
      now - Math.max(this.#registeredAt, this.#replacedAt) >= RECOVER_AFTER_MS + CALL_DEADLINE_MS
    if (!stuck) return
    this.#replacedAt = now
    const old = this.#client
    const w = this.#watcher
    this.#watcher = undefined
    w?.removeAllListeners()
    w?.on('error', () => undefined)
    // detached, or the old client's watch manager would keep re-dialing for it after close()
    void w?.cancel().catch(() => undefined)
    this.#releaseLease()
    this.#registered = false
    this.#connected = false
    this.#client = this.#newClient()
    old?.close()
    this.#log.debug(
      { event: 'etcd_client_replaced', clients: this.#clients },
      'etcd not back on this client: replaced it (new channels), registering and listing again',
    )
    this.#regBackoff.reset()
    this.#syncBackoff.reset()
    this.#wake?.()
    void this.#register()
    this.#syncTimer?.cancel()
    this.#syncTimer = undefined
    void this.#resync()
  }

  status(): DiscoveryStatus {
    const iso = (ms: number) => new Date(ms).toISOString()
    return {
      backend: 'etcd',
      endpoints: [...this.#o.etcd.endpoints],
      prefix: this.#o.etcd.prefix,
      connected: this.#connected,
      registered: this.#registered,
      leaseTtlSeconds: this.#o.etcd.leaseTtl / 1000,
      ...(this.#revision !== undefined && { revision: this.#revision }),
      ...(this.#lastSyncAt !== undefined && { lastSyncAt: iso(this.#lastSyncAt) }),
      resyncs: this.#resyncs,
      records: this.#view.liveCount,
      departing: this.#view.departing().map((d) => ({ name: d.name, until: iso(d.until) })),
      rejected: this.#view.rejected().map((r) => ({ key: r.key, problem: r.problem, at: iso(r.at) })),
      ...(this.#lastError && {
        lastError: { message: this.#lastError.message, at: iso(this.#lastError.at) },
      }),
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#superviseTimer)
    this.#wake?.()
    for (const t of [this.#syncTimer, this.#expiryTimer]) t?.cancel()
    const w = this.#watcher
    this.#watcher = undefined
    w?.removeAllListeners()
    w?.on('error', () => undefined)
    if (w) await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 500))])
    // not revoked: a restart re-puts the same record and the other nodes see no change
    this.#releaseLease()
    this.#client?.close()
  }

  // --- registration ------------------------------------------------------------------------------

  #register(): Promise<void> {
    this.#registering ??= this.#registerLoop().finally(() => {
      this.#registering = undefined
    })
    return this.#registering
  }

  async #registerLoop(): Promise<void> {
    while (!this.#stopped) {
      const client = this.#client
      if (!client) return
      this.#releaseLease()
      const ttl = Math.max(1, Math.round(this.#o.etcd.leaseTtl / 1000))
      const lease = client.lease(ttl, { autoKeepAlive: true })
      lease.on('lost', (err) => this.#leaseLost(lease, err))
      try {
        await withDeadline(lease.put(this.#key).value(this.#value).exec(), CALL_DEADLINE_MS, 'put')
        if (this.#stopped || client !== this.#client) {
          lease.removeAllListeners()
          lease.release()
          if (this.#stopped) return
          continue // the client was replaced meanwhile: register on the new one
        }
        this.#lease = lease
        this.#watchKeepAlive(lease, ttl)
        this.#registered = true
        this.#regBackoff.reset()
        this.#recovered()
        this.#log.info(
          {
            event: this.#everRegistered ? 'etcd_registration_resumed' : 'etcd_registered',
            key: this.#key,
            lease: String(await lease.grant()),
          },
          `${this.#everRegistered ? 'registered again' : 'registered'} in etcd as ${this.#key} (lease TTL ${ttl} s)`,
        )
        this.#everRegistered = true
        return
      } catch (err) {
        lease.removeAllListeners()
        lease.release()
        this.#registered = false
        if (this.#stopped) return
        const ms = this.#regBackoff.next()
        this.#fail(`cannot register ${this.#key}: ${(err as Error).message}; retrying in ${ms} ms`, err)
        await new Promise<void>((r) => {
          const t = this.#clock.after(ms, r)
          this.#wake = () => {
            t.cancel()
            r()
          }
        })
        this.#wake = undefined
      }
    }
  }

  #releaseLease(): void {
    clearInterval(this.#keepTimer)
    this.#keepTimer = undefined
    const old = this.#lease
    this.#lease = undefined
    old?.removeAllListeners()
    old?.release()
  }

  /**
   * etcd3's keep-alive stream can stall without an error (seen on a fresh connection to a member
   * under load): when no keep-alive was answered for half the TTL, send one on a new stream.
   */
  #watchKeepAlive(lease: Lease, ttlSeconds: number): void {
    let lastOk = Date.now()
    lease.on('keepaliveSucceeded', () => {
      lastOk = Date.now()
    })
    clearInterval(this.#keepTimer)
    this.#keepTimer = setInterval(
      () => {
        if (this.#lease !== lease || Date.now() - lastOk < (ttlSeconds * 1000) / 2) return
        lease
          .keepaliveOnce()
          .then(() => {
            lastOk = Date.now()
          })
          .catch(() => undefined)
      },
      (ttlSeconds * 1000) / 3,
    )
    this.#keepTimer.unref()
  }

  #leaseLost(lease: Lease, err: Error): void {
    if (this.#stopped || this.#lease !== lease) return
    this.#registered = false
    this.#log.warn(
      { event: 'etcd_lease_lost', key: this.#key },
      `lost the etcd lease of ${this.#key}: ${err.message}; registering again`,
    )
    void this.#register()
  }

  /** Our own key changed under the watch: someone else wrote or deleted it. Put ours back. */
  #ownKeyChanged(value: string | undefined): void {
    if (value === this.#value || this.#stopped) return
    if (value === undefined) {
      this.#log.warn(
        { event: 'etcd_registration_deleted', key: this.#key },
        `${this.#key} was deleted; registering again`,
      )
    } else {
      this.#log.warn(
        { event: 'etcd_registration_overwritten', key: this.#key },
        `${this.#key} was overwritten by another writer; writing this node's record back`,
      )
    }
    this.#registered = false
    void this.#register()
  }

  // --- the view ----------------------------------------------------------------------------------

  /** A full listing, then a watch from the revision after it. One at a time; retried with backoff. */
  #resync(): Promise<void> {
    if (this.#syncing) {
      this.#syncAgain = true
      return this.#syncing
    }
    this.#syncing = (async () => {
      do {
        this.#syncAgain = false
        await this.#resyncOnce()
      } while (this.#syncAgain && !this.#stopped)
    })().finally(() => {
      this.#syncing = undefined
    })
    return this.#syncing
  }

  async #resyncOnce(): Promise<void> {
    const client = this.#client
    if (!client || this.#stopped) return
    this.#syncTimer?.cancel()
    this.#syncTimer = undefined
    const old = this.#watcher
    this.#watcher = undefined
    if (old) {
      // not awaited: a watch etcd already cancelled (compaction) gets no answer to a second cancel
      old.removeAllListeners()
      old.on('error', () => undefined)
      void old.cancel().catch(() => undefined)
    }
    try {
      const res = await withDeadline(
        client.getAll().prefix(this.#o.etcd.prefix).exec(),
        CALL_DEADLINE_MS,
        'listing',
      )
      if (this.#stopped) return
      const kvs = res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }))
      const own = kvs.find((kv) => kv.key === this.#key)
      for (const r of this.#view.resync(kvs, this.#clock.now())) this.#rejected(r)
      this.#revision = res.header.revision
      this.#resyncs++
      this.#lastSyncAt = this.#clock.now()
      this.#schedulePublish()
      if (this.#registered) this.#ownKeyChanged(own?.value)
      const next = (BigInt(res.header.revision) + 1n).toString()
      const builder = client.watch().prefix(this.#o.etcd.prefix).startRevision(next)
      const pending = builder.watcher()
      const w = await withDeadline(
        new Promise<Watcher>((resolve, reject) => {
          pending.once('connected', () => resolve(pending))
          pending.once('error', reject)
        }),
        CALL_DEADLINE_MS,
        'creating the watch',
      ).catch((err: unknown) => {
        pending.removeAllListeners()
        pending.on('error', () => undefined)
        void pending.cancel().catch(() => undefined)
        throw err
      })
      if (this.#stopped || client !== this.#client) {
        w.removeAllListeners()
        void w.cancel().catch(() => undefined)
        if (this.#stopped) return
        throw new Error('the etcd client was replaced during the listing')
      }
      this.#watch(w)
      this.#syncBackoff.reset()
      this.#recovered()
      this.#log.info(
        {
          event: 'etcd_synced',
          revision: this.#revision,
          records: this.#view.liveCount,
          resyncs: this.#resyncs,
        },
        `etcd view at revision ${this.#revision}: ${this.#view.liveCount} other nodes registered`,
      )
    } catch (err) {
      this.#connected = false
      const ms = this.#syncBackoff.next()
      this.#fail(
        `cannot list ${this.#o.etcd.prefix}: ${(err as Error).message}; keeping the current peers, retrying in ${ms} ms`,
        err,
      )
      this.#syncTimer = this.#clock.after(ms, () => {
        this.#syncTimer = undefined
        void this.#resync()
      })
    }
  }

  #watch(w: Watcher): void {
    this.#watcher = w
    this.#connected = true
    w.on('put', (kv: IKeyValue) => this.#event(kv, kv.value.toString()))
    w.on('delete', (kv: IKeyValue) => this.#event(kv, undefined))
    w.on('disconnected', (err: Error) => {
      if (!this.#connected) return
      this.#connected = false
      this.#fail(`lost the etcd watch: ${err.message}; keeping the current peers, reconnecting`, err)
    })
    w.on('connected', () => {
      if (this.#connected) return
      this.#connected = true
      this.#recovered()
      this.#log.info(
        { event: 'etcd_reconnected', revision: this.#revision },
        `etcd watch resumed after revision ${this.#revision}`,
      )
      // leases may have lapsed meanwhile; make sure ours is there
      if (!this.#registered) void this.#register()
    })
    w.on('error', (err: Error) => {
      // cancelled by etcd (typically: our revision was compacted while we were away): list again
      if (this.#watcher !== w) return
      this.#connected = false
      this.#log.warn(
        { event: 'etcd_watch_cancelled', revision: this.#revision },
        `${err.message}; listing ${this.#o.etcd.prefix} again`,
      )
      void this.#resync()
    })
  }

  #event(kv: IKeyValue, value: string | undefined): void {
    const key = kv.key.toString()
    this.#revision = kv.mod_revision
    if (key === this.#key) {
      this.#ownKeyChanged(value)
      return
    }
    const now = this.#clock.now()
    if (value === undefined) this.#view.delete(key, now)
    else {
      const r = this.#view.put(key, value, now)
      if (r) this.#rejected(r)
    }
    this.#schedulePublish()
  }

  #rejected(r: RejectedRecord): void {
    const err = new LatchError(
      'LATCH_ERR_DISCOVERY_RECORD_INVALID',
      `refused the etcd record ${r.key}: ${r.problem}`,
      {
        details: { key: r.key, problem: r.problem },
      },
    )
    this.#log.warn({ event: 'etcd_record_rejected', key: r.key, code: err.code }, err.message)
    this.#o.onError(err)
  }

  /** Many events arrive in one watch response: apply them to the mesh once. */
  #schedulePublish(): void {
    if (this.#publishQueued) return
    this.#publishQueued = true
    setImmediate(() => {
      this.#publishQueued = false
      this.#publish()
    })
  }

  #publish(): void {
    if (this.#stopped) return
    this.#view.expire(this.#clock.now())
    this.#armExpiry()
    const next = this.#view.peers()
    const d = diffPeers(this.#peers, next)
    if (d.added.length + d.removed.length + d.changed.length === 0) return
    this.#peers = next
    this.#o.onChange(next)
  }

  #armExpiry(): void {
    this.#expiryTimer?.cancel()
    this.#expiryTimer = undefined
    const at = this.#view.nextExpiry()
    if (at === undefined) return
    this.#expiryTimer = this.#clock.after(Math.max(0, at - this.#clock.now()), () => {
      this.#expiryTimer = undefined
      this.#publish()
    })
  }

  /** etcd did not answer: logged (once per outage at warn, retries at debug) and shown in status. */
  #fail(message: string, cause: unknown): void {
    this.#lastError = { message, at: this.#clock.now() }
    const err = new LatchError('LATCH_ERR_DISCOVERY_ETCD_UNAVAILABLE', message, { cause })
    const level = this.#outage ? 'debug' : 'warn'
    this.#outage = true
    this.#log[level](
      { event: 'etcd_unavailable', code: err.code, err: { message: (cause as Error)?.message } },
      message,
    )
  }

  #recovered(): void {
    if (!this.#outage) return
    this.#outage = false
    this.#log.info({ event: 'etcd_available' }, 'etcd answers again')
  }
}

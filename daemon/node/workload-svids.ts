/**
 * The SVIDs latchd presents for its local workloads in pair authentication: issued and renewed at
 * half-life from the node intermediate (SvidRenewer) for workloads with `renew: true`, read as they
 * are for workloads whose files are managed elsewhere. Every SVID goes into WorkloadCredentials, so
 * the next pair handshakes present it; auth entries made with the previous one stay until they expire.
 * Workloads registered at runtime come and go through add()/remove(): their SVIDs are always issued
 * here (files under registrations.svidDir, key 0600), and removing one stops presenting it.
 */
import type { Logger } from 'pino'
import { loadPem, readPrivateKey } from '../../certs/index.js'
import { asLatchError, LatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import { SvidRenewer } from '../identity/renewer.js'
import type { WorkloadCredentials } from '../pairauth/credentials.js'
import type { SvidInfo } from '../wire/svid.js'

/** A workload whose SVID latchd issues and renews (config `renew: true`, or registered at runtime). */
export interface SvidWorkload {
  id: string
  ips: readonly string[]
  certFile: string
  keyFile: string
  chainFile?: string | undefined
}

export class WorkloadSvids {
  readonly #c: Config
  readonly #log: Logger
  readonly #credentials: WorkloadCredentials
  readonly #renewer: SvidRenewer
  readonly #problems = new Map<string, string>()
  readonly #renewedListeners: Array<(spiffeId: string) => void> = []
  /** config workloads, then those added at runtime, by SPIFFE ID */
  readonly #workloads = new Map<string, { id: string; ips: readonly string[]; renew: boolean }>()

  constructor(
    c: Config,
    credentials: WorkloadCredentials,
    log: Logger,
    registered: readonly SvidWorkload[] = [],
  ) {
    this.#c = c
    this.#log = log
    this.#credentials = credentials
    for (const w of c.workloads) this.#workloads.set(w.id, w)
    for (const w of registered) this.#workloads.set(w.id, { id: w.id, ips: w.ips, renew: true })
    const renewed = c.workloads.filter((w) => w.renew && w.certFile && w.keyFile)
    this.#renewer = new SvidRenewer({
      intermediate: { certFile: c.pki.intermediateCertFile, keyFile: c.pki.intermediateKeyFile },
      workloads: [
        ...renewed.map((w) => ({
          id: w.id,
          ips: [...w.ips],
          certFile: w.certFile as string,
          keyFile: w.keyFile as string,
          chainFile: w.chainFile,
        })),
        ...registered,
      ],
      ttl: c.svidTtl,
    })
    this.#renewer.on('renewed', (svid) => {
      if (this.#put(svid.spiffeId, svid.chainPem, svid.keyPem)) {
        this.#log.info(
          { event: 'svid_renewed', workload: svid.spiffeId, cause: svid.cause, notAfter: svid.notAfter },
          `renewed the SVID of ${svid.spiffeId} (${svid.cause}); the next pair handshakes present it`,
        )
        for (const l of this.#renewedListeners) l(svid.spiffeId)
      }
    })
    this.#renewer.on('failed', (id, err) => {
      this.#problems.set(id, `${err.code}: ${err.message}`)
      this.#log.error(
        { event: 'svid_renewal_failed', workload: id, code: err.code },
        `cannot renew the SVID of ${id}: ${err.message}; the current one stays in use`,
      )
    })
  }

  /** Load (and where due, issue) every workload's SVID into the credentials. */
  async start(): Promise<void> {
    for (const w of this.#c.workloads) {
      if (!w.certFile || !w.keyFile) {
        this.#problems.set(w.id, 'no certFile/keyFile configured: this workload cannot be authenticated')
        this.#log.warn(
          { event: 'svid_missing', workload: w.id },
          `workload ${w.id} has no certFile/keyFile: its pairs stay denied`,
        )
      }
    }
    for (const a of await this.#renewer.start()) this.#put(a.spiffeId, a.chainPem, a.keyPem)
    for (const w of this.#c.workloads) {
      if (w.renew || !w.certFile || !w.keyFile) continue
      try {
        const cert = await loadPem(w.chainFile ?? w.certFile)
        const chain = w.chainFile ? cert : cert + (await loadPem(this.#c.pki.intermediateCertFile))
        this.#put(w.id, chain, await readPrivateKey(w.keyFile))
      } catch (err) {
        const e = asLatchError(err)
        this.#problems.set(w.id, `${e.code}: ${e.message}`)
        this.#log.error(
          { event: 'svid_unusable', workload: w.id, code: e.code },
          `cannot present the SVID of ${w.id}: ${e.message}`,
        )
      }
    }
  }

  stop(): void {
    this.#renewer.stop()
  }

  /**
   * A workload registered at runtime: issue its SVID (or re-adopt a valid one on disk) and present
   * it. Throws when no SVID could be issued; then nothing is kept.
   */
  async add(w: SvidWorkload): Promise<{ notAfter: Date }> {
    this.#workloads.set(w.id, { id: w.id, ips: w.ips, renew: true })
    const active = await this.#renewer.add({ ...w, ips: [...w.ips] })
    if (active === undefined || !this.#put(active.spiffeId, active.chainPem, active.keyPem)) {
      const why = this.#problems.get(w.id) ?? 'no SVID could be issued'
      this.remove(w.id)
      throw new LatchError('LATCH_ERR_WORKLOAD_FAILED', `cannot issue the SVID of ${w.id}: ${why}`, {
        details: { workload: w.id },
      })
    }
    return { notAfter: active.notAfter }
  }

  /** Stop renewing and presenting a workload (it left this node); its files are the caller's. */
  remove(id: string): void {
    this.#renewer.remove(id)
    this.#credentials.remove(id)
    this.#workloads.delete(id)
    this.#problems.delete(id)
  }

  /** Called after a renewed SVID is in the credentials (same-node pairs take its new notAfter). */
  onRenewed(listener: (spiffeId: string) => void): void {
    this.#renewedListeners.push(listener)
  }

  /** Renew one workload's SVID now (whatever its half-life). */
  renewNow(id: string): Promise<unknown> {
    return this.#renewer.renewNow(id)
  }

  info(): SvidInfo[] {
    const schedule = this.#renewer.schedule()
    return [...this.#workloads.values()].map((w) => {
      const cred = this.#credentials.get(w.id)
      const renewAt = schedule.get(w.id)
      const problem = this.#problems.get(w.id)
      return {
        id: w.id,
        ips: [...w.ips],
        source: w.renew ? 'renewed' : 'files',
        ...(cred && { notAfter: cred.notAfter.toISOString(), fingerprint: cred.fingerprint }),
        ...(renewAt !== undefined && { renewAt: new Date(renewAt).toISOString() }),
        ...(problem !== undefined && { problem }),
      }
    })
  }

  #put(id: string, chainPem: string, keyPem: string): boolean {
    try {
      this.#credentials.put({ spiffeId: id, chainPem, keyPem })
      this.#problems.delete(id)
      return true
    } catch (err) {
      const e = asLatchError(err)
      this.#problems.set(id, `${e.code}: ${e.message}`)
      this.#log.error(
        { event: 'svid_unusable', workload: id, code: e.code },
        `cannot present the SVID of ${id}: ${e.message}; the previous one (if any) stays`,
      )
      return false
    }
  }
}

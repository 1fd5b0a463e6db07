/**
 * The SVIDs latchd presents for its local workloads in pair authentication: issued and renewed at
 * half-life from the node intermediate (SvidRenewer) for workloads with `renew: true`, read as they
 * are for workloads whose files are managed elsewhere. Every SVID goes into WorkloadCredentials, so
 * the next pair handshakes present it; auth entries made with the previous one stay until they expire.
 */
import type { Logger } from 'pino'
import { loadPem, readPrivateKey } from '../../certs/index.js'
import { asLatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import { SvidRenewer } from '../identity/renewer.js'
import type { WorkloadCredentials } from '../pairauth/credentials.js'
import type { SvidInfo } from '../wire/svid.js'

export class WorkloadSvids {
  readonly #c: Config
  readonly #log: Logger
  readonly #credentials: WorkloadCredentials
  readonly #renewer: SvidRenewer | undefined
  readonly #problems = new Map<string, string>()
  readonly #renewedListeners: Array<(spiffeId: string) => void> = []

  constructor(c: Config, credentials: WorkloadCredentials, log: Logger) {
    this.#c = c
    this.#log = log
    this.#credentials = credentials
    const renewed = c.workloads.filter((w) => w.renew && w.certFile && w.keyFile)
    this.#renewer =
      renewed.length === 0
        ? undefined
        : new SvidRenewer({
            intermediate: { certFile: c.pki.intermediateCertFile, keyFile: c.pki.intermediateKeyFile },
            workloads: renewed.map((w) => ({
              id: w.id,
              ips: [...w.ips],
              certFile: w.certFile as string,
              keyFile: w.keyFile as string,
              chainFile: w.chainFile,
            })),
            ttl: c.svidTtl,
          })
    this.#renewer?.on('renewed', (svid) => {
      if (this.#put(svid.spiffeId, svid.chainPem, svid.keyPem)) {
        this.#log.info(
          { event: 'svid_renewed', workload: svid.spiffeId, cause: svid.cause, notAfter: svid.notAfter },
          `renewed the SVID of ${svid.spiffeId} (${svid.cause}); the next pair handshakes present it`,
        )
        for (const l of this.#renewedListeners) l(svid.spiffeId)
      }
    })
    this.#renewer?.on('failed', (id, err) => {
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
    for (const a of (await this.#renewer?.start()) ?? []) this.#put(a.spiffeId, a.chainPem, a.keyPem)
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
    this.#renewer?.stop()
  }

  /** Called after a renewed SVID is in the credentials (same-node pairs take its new notAfter). */
  onRenewed(listener: (spiffeId: string) => void): void {
    this.#renewedListeners.push(listener)
  }

  /** Renew one workload's SVID now (whatever its half-life). */
  renewNow(id: string): Promise<unknown> {
    return this.#renewer?.renewNow(id) ?? Promise.resolve(undefined)
  }

  info(): SvidInfo[] {
    const schedule = this.#renewer?.schedule() ?? new Map<string, number>()
    return this.#c.workloads.map((w) => {
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

/**
 * The trust lifecycle of a running latchd: it watches the PKI files (trust bundle, node certificate
 * and key, intermediate and key) and the revocation list, takes a new set only when all of it checks
 * out (identity/trust-material.ts) — otherwise it logs `pki_rejected` with every reason and keeps
 * what it runs — and hands an accepted set to `apply` with what changed. It also watches expiry:
 * `latch_cert_expiry_seconds{kind,serial}` for every credential, a warning log once a credential has
 * less than min(30 days, a third of its lifetime) left, an error once it expired, and a status block.
 */
import type { Logger } from 'pino'
import { Gauge, type Registry } from 'prom-client'
import { LatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import { NO_REVOCATIONS, parseRevocations } from '../identity/revocation.js'
import {
  type CredentialExpiry,
  checkMaterial,
  expiries,
  type TrustFiles,
  type TrustMaterial,
  trustFileList,
} from '../identity/trust-material.js'
import { type FileContents, FileSetWatch, readAll } from '../identity/watch-files.js'
import type { StatusTrust } from '../wire/status.js'

export interface TrustChange {
  bundle: boolean
  node: boolean
  intermediate: boolean
  revocations: boolean
}

export interface TrustLifecycleOptions {
  config: Config
  logger: Logger
  /** The material latchd started with (loadLocalIdentity + loadRevocations). */
  initial: TrustMaterial
  apply: (next: TrustMaterial, previous: TrustMaterial, changed: TrustChange) => void
  registry?: Registry
  /** How often expiry is checked for the warning log. Default 60 s. */
  expiryCheckMs?: number
  now?: () => Date
}

const DAY = 86_400_000

/** When to warn: min(30 days, a third of the lifetime) before notAfter. */
export function warnAt(notBefore: Date, notAfter: Date): number {
  const life = notAfter.getTime() - notBefore.getTime()
  return notAfter.getTime() - Math.min(30 * DAY, life / 3)
}

export function trustFilesOf(c: Config): TrustFiles {
  return { ...c.pki }
}

/** The revocation list at start: a missing or invalid file stops the start (there is no last good one). */
export async function loadRevocations(c: Config): Promise<TrustMaterial['revocations']> {
  const file = c.pki.revocationFile
  if (file === undefined) return NO_REVOCATIONS
  const text = (await readAll([file])).get(file)
  if (text === undefined) {
    throw new LatchError('LATCH_ERR_REVOCATION_INVALID', `the revocation list ${file} cannot be read`, {
      details: { file },
    })
  }
  return parseRevocations(text.toString('utf8'), file, c.trustDomain)
}

export class TrustLifecycle {
  readonly #o: TrustLifecycleOptions
  readonly #log: Logger
  readonly #files: TrustFiles
  #current: TrustMaterial
  #watch: FileSetWatch | undefined
  #timer: NodeJS.Timeout | undefined
  #reloads = 0
  #lastReloadAt: Date | undefined
  #rejected: { at: Date; problems: string[] } | undefined
  readonly #warned = new Set<string>()

  constructor(o: TrustLifecycleOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'trust' })
    this.#files = trustFilesOf(o.config)
    this.#current = o.initial
    if (o.registry !== undefined) {
      const self = this
      new Gauge({
        name: 'latch_cert_expiry_seconds',
        help: 'Seconds until each credential latchd runs with expires (kind: root, intermediate, node)',
        labelNames: ['kind', 'serial'],
        registers: [o.registry],
        collect() {
          this.reset()
          for (const c of self.status().credentials)
            this.set({ kind: c.kind, serial: c.serial }, c.expiresInSeconds)
        },
      })
    }
  }

  get current(): TrustMaterial {
    return this.#current
  }

  async start(): Promise<void> {
    const files = trustFileList(this.#files)
    this.#watch = new FileSetWatch(files, (contents) => this.#changed(contents), await readAll(files))
    this.#checkExpiry()
    this.#timer = setInterval(() => this.#checkExpiry(), this.#o.expiryCheckMs ?? 60_000)
    this.#timer.unref()
  }

  /** Re-read the files now (SIGHUP, tests); resolves once a change was applied or refused. */
  reload(): Promise<void> {
    return this.#watch?.check() ?? Promise.resolve()
  }

  stop(): void {
    this.#watch?.close()
    clearInterval(this.#timer)
  }

  status(): StatusTrust {
    const now = this.#now().getTime()
    const r = this.#current.revocations
    return {
      credentials: expiries(this.#current).map((e) => ({
        kind: e.kind,
        subject: e.subject,
        serial: e.serial,
        notAfter: e.notAfter.toISOString(),
        expiresInSeconds: Math.round((e.notAfter.getTime() - now) / 1000),
        ...(this.#warned.has(e.serial) && { warning: 'expires soon: renew or rotate it' }),
      })),
      revocations: {
        ...(this.#files.revocationFile !== undefined && { file: this.#files.revocationFile }),
        digest: r.digest,
        entries: r.entries.length,
      },
      reloads: this.#reloads,
      ...(this.#lastReloadAt && { lastReloadAt: this.#lastReloadAt.toISOString() }),
      ...(this.#rejected && {
        rejected: { at: this.#rejected.at.toISOString(), problems: this.#rejected.problems },
      }),
    }
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date()
  }

  #changed(contents: FileContents): void {
    const c = this.#o.config
    const verdict = checkMaterial(
      {
        node: c.node,
        trustDomain: c.trustDomain,
        listenAddress: c.listen.address,
        workloadCidrs: c.workloadCidrs,
      },
      this.#files,
      contents,
      this.#now(),
    )
    if (!verdict.ok) {
      this.#rejected = { at: this.#now(), problems: verdict.problems }
      const err = new LatchError('LATCH_ERR_PKI_RELOAD_REJECTED', verdict.problems.join('; '))
      this.#log.error(
        { event: 'pki_rejected', code: err.code, problems: verdict.problems },
        `kept the running PKI files: ${err.message}`,
      )
      return
    }
    const prev = this.#current
    const next = verdict.material
    const changed: TrustChange = {
      bundle: next.rootPem !== prev.rootPem,
      node: next.certPem !== prev.certPem || next.keyPem !== prev.keyPem,
      intermediate: next.intermediatePem !== prev.intermediatePem,
      revocations: next.revocations.digest !== prev.revocations.digest,
    }
    this.#rejected = undefined
    if (!Object.values(changed).some(Boolean)) return
    this.#current = next
    this.#reloads++
    this.#lastReloadAt = this.#now()
    this.#log.info(
      {
        event: 'pki_reloaded',
        changed: Object.entries(changed)
          .filter(([, v]) => v)
          .map(([k]) => k),
        roots: expiries(next).filter((e) => e.kind === 'root').length,
        revocations: next.revocations.entries.length,
      },
      `took new PKI files (${Object.entries(changed)
        .filter(([, v]) => v)
        .map(([k]) => k)
        .join(', ')})`,
    )
    this.#o.apply(next, prev, changed)
    this.#checkExpiry()
  }

  #checkExpiry(): void {
    const now = this.#now().getTime()
    for (const e of expiries(this.#current)) this.#expiryOf(e, now)
  }

  #expiryOf(e: CredentialExpiry, now: number): void {
    const notBefore = e.notBefore
    const left = e.notAfter.getTime() - now
    if (left <= 0) {
      if (!this.#warned.has(`expired:${e.serial}`)) {
        this.#warned.add(`expired:${e.serial}`)
        this.#log.error(
          { event: 'cert_expired', kind: e.kind, serial: e.serial, notAfter: e.notAfter },
          `the ${e.kind} certificate "${e.subject}" expired at ${e.notAfter.toISOString()}: peers refuse it`,
        )
      }
      return
    }
    if (now >= warnAt(notBefore, e.notAfter) && !this.#warned.has(e.serial)) {
      this.#warned.add(e.serial)
      this.#log.warn(
        {
          event: 'cert_expiring',
          kind: e.kind,
          serial: e.serial,
          notAfter: e.notAfter,
          secondsLeft: Math.round(left / 1000),
        },
        `the ${e.kind} certificate "${e.subject}" expires at ${e.notAfter.toISOString()} (in ${Math.round(left / 3_600_000)} h): ${
          e.kind === 'root'
            ? 'rotate the root (`latchctl ca rotate`, README runbook)'
            : 'renew it (`latchctl node renew NODE`, README runbook)'
        }`,
      )
    }
  }
}

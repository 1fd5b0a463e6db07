/**
 * The SVIDs of this node's local workloads, as TLS contexts ready to present. The pair-auth server
 * selects from here by SNI and the client by the local identity, so it is the one place that decides
 * what this daemon can present: only what was put here, i.e. its own workloads' SVIDs.
 *
 * Replacing an SVID (renewal) swaps the context for the next handshakes; connections in flight and the
 * auth entries they produced are unaffected. Each context is built once per SVID, not per connection.
 */
import { X509Certificate } from 'node:crypto'
import { createSecureContext, type SecureContext } from 'node:tls'
import { CERT_BLOCK } from '../../certs/x509.js'
import { LatchError } from '../base/errors.js'
import { serverNameFor } from './protocol.js'

/** An SVID as issued (certs' IssuedSvid satisfies it). */
export interface SvidInput {
  spiffeId: string
  /** The SVID followed by its intermediate. */
  chainPem: string
  keyPem: string
}

export interface Credential {
  readonly spiffeId: string
  readonly serverName: string
  readonly context: SecureContext
  /** The leaf's own notAfter (what this side proposes as the upper bound of an auth entry). */
  readonly notAfter: Date
  /** SHA-256 fingerprint of the leaf, for logs and tests. */
  readonly fingerprint: string
}

function bad(message: string, spiffeId: string, cause?: unknown): LatchError {
  return new LatchError('LATCH_ERR_PAIRAUTH_BAD_CREDENTIALS', message, {
    details: { spiffeId },
    ...(cause === undefined ? {} : { cause }),
  })
}

/** TLS 1.3 only, root CA as the only trust anchor: the settings of every pair-auth context. */
export function pairContext(rootPem: string, certPem: string, keyPem: string): SecureContext {
  return createSecureContext({
    ca: rootPem,
    cert: certPem,
    key: keyPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  })
}

export class WorkloadCredentials {
  #rootPem: string
  readonly #inputs = new Map<string, SvidInput>()
  readonly #byId = new Map<string, Credential>()
  readonly #byName = new Map<string, Credential>()

  constructor(rootPem: string) {
    this.#rootPem = rootPem
  }

  /**
   * Add or replace the SVID of a local workload. Throws LATCH_ERR_PAIRAUTH_BAD_CREDENTIALS when the
   * chain's leaf does not carry exactly `spiffeId` or the key does not belong to it; the previous SVID
   * then stays in use.
   */
  put(svid: SvidInput): Credential {
    const leafPem = svid.chainPem.match(CERT_BLOCK)?.[0]
    if (leafPem === undefined)
      throw bad(`the SVID chain of ${svid.spiffeId} has no certificate`, svid.spiffeId)
    let leaf: X509Certificate
    try {
      leaf = new X509Certificate(leafPem)
    } catch (cause) {
      throw bad(`the SVID of ${svid.spiffeId} does not parse`, svid.spiffeId, cause)
    }
    const uris = (leaf.subjectAltName ?? '')
      .split(/,\s*/)
      .filter((n) => n.startsWith('URI:'))
      .map((n) => n.slice(4))
    if (uris.length !== 1 || uris[0] !== svid.spiffeId) {
      throw bad(
        `the SVID given for ${svid.spiffeId} carries ${uris.join(', ') || 'no URI SAN'}`,
        svid.spiffeId,
      )
    }
    let context: SecureContext
    try {
      context = pairContext(this.#rootPem, svid.chainPem, svid.keyPem)
    } catch (cause) {
      throw bad(
        `the key of ${svid.spiffeId} does not match its SVID or does not parse: ${(cause as Error).message}`,
        svid.spiffeId,
        cause,
      )
    }
    const credential: Credential = Object.freeze({
      spiffeId: svid.spiffeId,
      serverName: serverNameFor(svid.spiffeId),
      context,
      notAfter: new Date(leaf.validTo),
      fingerprint: leaf.fingerprint256,
    })
    this.#byId.set(credential.spiffeId, credential)
    this.#byName.set(credential.serverName, credential)
    this.#inputs.set(credential.spiffeId, svid)
    return credential
  }

  /**
   * A new trust bundle (root rotation, hot reload): every context is rebuilt with it, for the next
   * handshakes. A context that fails to build keeps the previous one.
   */
  setRoot(rootPem: string): void {
    this.#rootPem = rootPem
    for (const svid of this.#inputs.values()) {
      try {
        this.put(svid)
      } catch {
        // put() checked this SVID before; the previous context stays
      }
    }
  }

  /** Stop presenting a workload (it left this node). */
  remove(spiffeId: string): boolean {
    const c = this.#byId.get(spiffeId)
    if (c === undefined) return false
    this.#byId.delete(spiffeId)
    this.#byName.delete(c.serverName)
    this.#inputs.delete(spiffeId)
    return true
  }

  get(spiffeId: string): Credential | undefined {
    return this.#byId.get(spiffeId)
  }

  /** The credential a TLS server name asks for (see serverNameFor), if this node hosts it. */
  byServerName(name: string | null | undefined | false): Credential | undefined {
    return typeof name === 'string' ? this.#byName.get(name.toLowerCase()) : undefined
  }

  ids(): string[] {
    return [...this.#byId.keys()].sort()
  }

  get rootPem(): string {
    return this.#rootPem
  }
}

/**
 * Parsed certificates for verify(), memoised. Parsing a certificate with @peculiar/x509 (and reading
 * its extensions) costs far more than checking it, and verify() sees the same few certificates over
 * and over: the trust bundle on every call, a node's intermediate in every chain from that node, a
 * workload's SVID until it is renewed. A certificate's DER never changes, so everything derived from
 * it alone can be kept: the parsed forms (keyed by the DER bytes), the name constraints of a CA, and
 * the fact that one certificate's signature verifies with another's key. Each cache is bounded; what
 * falls out is parsed again. Nothing that depends on time, trust domain or expectations is cached.
 */
import { X509Certificate as NodeX509 } from 'node:crypto'
import { type CertFields, certFields } from './cert-fields.js'
import type { CertInput, ChainInput, ParsedCert } from './chain-input.js'
import { parseNameConstraints } from './name-constraints.js'
import { parseStrictConstraints, type StrictConstraints } from './name-constraints-strict.js'
import { CERT_BLOCK, x509 } from './x509.js'

/** A map that forgets its least recently used entry beyond `max`. */
export class Lru<K, V> {
  readonly #max: number
  readonly #map = new Map<K, V>()

  constructor(max: number) {
    this.#max = max
  }

  get(key: K): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }

  set(key: K, value: V): void {
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K)
  }
}

const byDer = new Lru<string, ParsedCert>(1024)
const byPem = new Lru<string, ParsedCert[]>(64)

function parseDer(der: Buffer): ParsedCert {
  const key = der.toString('base64')
  const hit = byDer.get(key)
  if (hit !== undefined) return hit
  const parsed: ParsedCert = Object.freeze({
    node: new NodeX509(der),
    x509: new x509.X509Certificate(der),
    der,
  })
  byDer.set(key, parsed)
  return parsed
}

/** The DER of each PEM block, without parsing it (the parse happens once, in parseDer). */
function derOfPem(pem: string): Buffer[] {
  const blocks = pem.match(CERT_BLOCK) ?? []
  if (blocks.length === 0) throw new Error('no PEM CERTIFICATE block')
  return blocks.map((b) => Buffer.from(b.replace(/-----[^-]+-----|\s+/g, ''), 'base64'))
}

function derOf(input: CertInput): Buffer[] {
  if (typeof input === 'string') return derOfPem(input)
  if (input instanceof NodeX509) return [input.raw]
  if (input instanceof x509.X509Certificate) return [Buffer.from(input.rawData)]
  return [Buffer.from(input)]
}

/** parseChain() with memoised results: the same certificates, the same (frozen) parsed objects. */
export function parseChainCached(input: ChainInput): ParsedCert[] {
  if (typeof input === 'string') {
    const hit = byPem.get(input)
    if (hit !== undefined) return hit
    const parsed = Object.freeze(derOfPem(input).map(parseDer)) as ParsedCert[]
    byPem.set(input, parsed)
    return parsed
  }
  const items: readonly CertInput[] = Array.isArray(input) ? input : [input as CertInput]
  return items.flatMap(derOf).map(parseDer)
}

const constraints = new WeakMap<ParsedCert, { nc: ReturnType<typeof parseNameConstraints> }>()

/** parseNameConstraints() of a parsed certificate, once per certificate (it throws the same way). */
export function nameConstraintsOf(c: ParsedCert): ReturnType<typeof parseNameConstraints> {
  const hit = constraints.get(c)
  if (hit !== undefined) return hit.nc
  const nc = parseNameConstraints(c.x509)
  constraints.set(c, { nc })
  return nc
}

const signedBy = new WeakMap<ParsedCert, WeakSet<ParsedCert>>()

/** Whether `child`'s signature verifies with `parent`'s public key (a success is remembered). */
export function signatureVerifies(child: ParsedCert, parent: ParsedCert): boolean {
  if (signedBy.get(child)?.has(parent)) return true
  if (!child.node.verify(parent.node.publicKey)) return false
  let set = signedBy.get(child)
  if (set === undefined) {
    set = new WeakSet()
    signedBy.set(child, set)
  }
  set.add(parent)
  return true
}

const fields = new WeakMap<ParsedCert, CertFields>()

/** certFields() of a parsed certificate, once per certificate (it throws the same way). */
export function fieldsOf(c: ParsedCert): CertFields {
  const hit = fields.get(c)
  if (hit !== undefined) return hit
  const f = certFields(c.der)
  fields.set(c, f)
  return f
}

const strict = new WeakMap<ParsedCert, { nc: StrictConstraints | undefined }>()

/** The strictly parsed name constraints of a CA (undefined: none), once per certificate. */
export function strictConstraintsOf(c: ParsedCert): StrictConstraints | undefined {
  const hit = strict.get(c)
  if (hit !== undefined) return hit.nc
  const ext = fieldsOf(c).extensions.find((e) => e.oid === '2.5.29.30')
  const nc = ext === undefined ? undefined : parseStrictConstraints(ext.value)
  strict.set(c, { nc })
  return nc
}

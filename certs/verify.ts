/**
 * verify(): is this certificate chain a valid SPIFFE X.509 identity of the trust domain, and if not, why?
 *
 * Strict RFC 5280 path validation — path building with backtracking over every issuer whose name and
 * key identifier fit and whose signature verifies (node:crypto, i.e. OpenSSL), the certificate profile
 * of every certificate on the path (certs/verify-profile.ts: serials, time encoding, key identifiers,
 * critical basic constraints, subjects, where name constraints may appear and their syntax), validity,
 * CA flags and keyCertSign, path length and name constraints with self-issued intermediates exempt
 * (§6.1.3(b), §6.1.4(l)), name constraints with OpenSSL's matching rules on the raw names and a bound
 * on their cost — followed by the X509-SVID rules of the SPIFFE spec: exactly one URI SAN that is a
 * valid SPIFFE ID in the expected trust domain, a leaf that is not a CA, digitalSignature key usage,
 * and the TLS purpose (a leaf without extendedKeyUsage serves any purpose, as RFC 5280 says), and
 * finally the revocation list if one is given. Every failure is a typed reason
 * (certs/verify-reasons.ts). verify() never accepts what OpenSSL rejects (with -x509_strict too), and
 * it is stricter where RFC 5280 or the SPIFFE spec says MUST. Synchronous and pure (no I/O): safe
 * inside a TLS callback.
 *
 * Why not validate through node:tls itself: OpenSSL's path validation is only reachable from Node
 * through a handshake, which needs the peer's private key; verify() has to judge a chain without it
 * (inspect, inventories, renewals). Tests assert that this and a real TLS 1.3 handshake agree.
 */
import type { X509Certificate as NodeX509 } from 'node:crypto'
import { nodeNameOf, parseSpiffeId, parseTrustDomain, type SpiffeId } from '../daemon/base/spiffe-id.js'
import type { CertInput, ChainInput, ParsedCert } from './chain-input.js'
import { constrainedNames } from './general-names.js'
import type { CertNames } from './name-constraints.js'
import { ConstraintError, MAX_CONSTRAINT_CHECKS, strictViolation } from './name-constraints-strict.js'
import { ipText, parseIp } from './net.js'
import { fieldsOf, parseChainCached, signatureVerifies, strictConstraintsOf } from './parse-cache.js'
import { checkProfile } from './verify-profile.js'
import type { VerifyReason } from './verify-reasons.js'
import { Reject } from './verify-reasons.js'
import { x509 } from './x509.js'

export type { VerifyReason }

export interface TrustBundle {
  /** The trusted roots: PEM text (one or more blocks) or certificates. */
  roots: ChainInput
  trustDomain: string
  /** Certificates and identities no longer trusted (checked once a path is otherwise valid). */
  revocations?: RevocationCheck
}

export interface VerifyExpectations {
  /** The identity the peer must have. */
  spiffeId?: string | SpiffeId
  /** The TLS role the certificate is used in (checked against extendedKeyUsage). */
  purpose?: 'client' | 'server'
  /** A latch node identity (spiffe://td/latch/node/N, signed by the root) or a workload one. */
  kind?: 'node' | 'workload'
  /** The time to validate at (default: now). */
  at?: Date
}

export interface VerifySuccess {
  ok: true
  spiffeId: string
  id: SpiffeId
  /** The leaf's IP SANs, canonical text. */
  ips: string[]
  /** The earliest notAfter on the path: the identity is good until then. */
  notAfter: Date
  /** The validated path, leaf first, trust anchor last. */
  chain: NodeX509[]
}

export interface VerifyFailure {
  ok: false
  reason: VerifyReason
  message: string
  /** Position on the path of the certificate at fault (0 = leaf), when there is one. */
  depth?: number
}

export type VerifyResult = VerifySuccess | VerifyFailure

const MAX_PATH = 8
/** Certificates read from one presented chain: more is hostile, not a chain. */
const MAX_INPUT = 16
/** Issuer trials while building paths (each may cost a signature check). */
const MAX_CANDIDATES = 64
const KNOWN_CRITICAL = new Set([
  '2.5.29.19', // basicConstraints
  '2.5.29.15', // keyUsage
  '2.5.29.37', // extKeyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.30', // nameConstraints
])
const EKU = { server: x509.ExtendedKeyUsage.serverAuth, client: x509.ExtendedKeyUsage.clientAuth } as const

export function verify(
  chain: ChainInput,
  bundle: TrustBundle,
  expectations: VerifyExpectations = {},
): VerifyResult {
  try {
    return check(chain, bundle, expectations)
  } catch (err) {
    if (err instanceof Reject) {
      return {
        ok: false,
        reason: err.reason,
        message: err.message,
        ...(err.depth === undefined ? {} : { depth: err.depth }),
      }
    }
    // untrusted input must never make verify() throw: anything unparsable deeper down is malformed
    return { ok: false, reason: 'malformed_certificate', message: (err as Error).message ?? String(err) }
  }
}

function parseOr(reason: VerifyReason, what: string, input: ChainInput): ParsedCert[] {
  try {
    const certs = parseChainCached(input)
    if (certs.length === 0) throw new Error('it is empty')
    return certs
  } catch (err) {
    throw new Reject(reason, `${what} cannot be parsed: ${(err as Error).message}`)
  }
}

/** What a revocation list says of one certificate on a validated path (latch's list: daemon/identity/revocation). */
export interface RevocationCheck {
  /** Why it is revoked, or undefined. `spiffeId` is set for the leaf. */
  revoked(cert: { serial: string; spiffeId: string | undefined; depth: number }): string | undefined
}

function check(chain: ChainInput, bundle: TrustBundle, expect: VerifyExpectations): VerifySuccess {
  const certs = parseOr('malformed_certificate', 'the chain', chain as CertInput)
  if (certs.length > MAX_INPUT) {
    throw new Reject(
      'path_too_long',
      `the chain holds ${certs.length} certificates; at most ${MAX_INPUT} are read`,
    )
  }
  const roots = parseOr('bad_trust_bundle', 'the trust bundle', bundle.roots)
  try {
    parseTrustDomain(bundle.trustDomain)
  } catch (err) {
    throw new Reject('bad_trust_bundle', (err as Error).message)
  }
  // RFC 4158 path building: every candidate path is validated in turn; the first valid one wins, and
  // when none is, the failure of the first complete path is the one reported
  let first: Reject | undefined
  for (const path of candidatePaths(certs, roots)) {
    try {
      return validatePath(path, roots, bundle, expect)
    } catch (err) {
      if (!(err instanceof Reject)) throw err
      first ??= err
    }
  }
  throw first as Reject
}

function validatePath(
  path: ParsedCert[],
  roots: ParsedCert[],
  bundle: TrustBundle,
  expect: VerifyExpectations,
): VerifySuccess {
  const at = expect.at ?? new Date()
  const top = path.length - 1
  for (const [depth, c] of path.entries()) {
    const role = depth === 0 ? 'leaf' : depth === top && roots.includes(c) ? 'anchor' : 'ca'
    checkProfile(fieldsOf(c), role, c.x509.subject, depth, depth === top && isSelfIssued(c))
  }
  for (const [depth, c] of path.entries()) checkValidity(c, depth, at)
  for (const [depth, c] of path.entries()) checkExtensions(c, depth, path)
  const leaf = path[0] as ParsedCert
  checkLeafUsage(leaf, expect.purpose)
  const id = checkSpiffeId(leaf, bundle.trustDomain, path, expect)
  const budget = { left: MAX_CONSTRAINT_CHECKS }
  for (let depth = 1; depth < path.length; depth++) checkConstraintsOf(path, depth, budget)
  const names = namesOf(leaf)
  const ids = id.toString()
  if (bundle.revocations !== undefined) {
    for (const [depth, c] of path.entries()) {
      const why = bundle.revocations.revoked({
        serial: c.node.serialNumber.toLowerCase(),
        spiffeId: depth === 0 ? ids : undefined,
        depth,
      })
      if (why !== undefined) throw new Reject('revoked', `"${c.x509.subject}" is revoked: ${why}`, depth)
    }
  }
  return {
    ok: true,
    spiffeId: ids,
    id,
    ips: names.ips.map((ip) => ipText(parseIp(ip))),
    notAfter: new Date(Math.min(...path.map((c) => c.x509.notAfter.getTime()))),
    chain: path.map((c) => c.node),
  }
}

function isSelfIssued(c: ParsedCert): boolean {
  const f = fieldsOf(c)
  return f.subject.raw.equals(f.issuer.raw) || c.node.subject === c.node.issuer
}

/**
 * Whether `parent` can have issued `child`: names match, key identifiers do not contradict, and the
 * signature verifies. Unlike OpenSSL's X509_check_issued it does not look at keyUsage, so a CA without
 * keyCertSign is found and refused for that (wrong_key_usage) instead of hiding behind unknown_issuer.
 */
function mayHaveIssued(child: ParsedCert, parent: ParsedCert, bad: { signature?: string }): boolean {
  const cf = fieldsOf(child)
  const pf = fieldsOf(parent)
  if (!cf.issuer.raw.equals(pf.subject.raw) && child.node.issuer !== parent.node.subject) return false
  const aki = child.x509.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId
  const ski = parent.x509.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId
  if (aki !== undefined && ski !== undefined && aki.toLowerCase() !== ski.toLowerCase()) return false
  if (signatureVerifies(child, parent)) return true
  bad.signature ??= `the signature of "${child.x509.subject}" does not verify with the key of "${parent.x509.subject}"`
  return false
}

/**
 * Leaf → … → trust anchor, depth first over every issuer that fits (trust anchors before the given
 * intermediates), so a dead end (an expired cross-certificate, an intermediate of a retired root) does
 * not hide another path. Bounded: at most MAX_PATH certificates deep and MAX_CANDIDATES issuer trials.
 */
function* candidatePaths(certs: ParsedCert[], roots: ParsedCert[]): Generator<ParsedCert[]> {
  const leaf = certs[0] as ParsedCert
  const pool = certs.slice(1)
  const bad: { signature?: string } = {}
  let trials = 0
  let complete = 0
  let tooLong = false
  function* extend(path: ParsedCert[]): Generator<ParsedCert[]> {
    const cur = path.at(-1) as ParsedCert
    if (path.length > 1 && roots.some((r) => r.der.equals(cur.der))) {
      complete++
      yield path
      return
    }
    for (const parent of [...roots, ...pool]) {
      if (path.includes(parent) || ++trials > MAX_CANDIDATES) continue
      if (!mayHaveIssued(cur, parent, bad)) continue
      if (roots.includes(parent)) {
        complete++
        yield parent.der.equals(cur.der) ? path : [...path, parent]
      } else if (path.length >= MAX_PATH) {
        tooLong = true
      } else {
        yield* extend([...path, parent])
      }
    }
  }
  yield* extend([leaf])
  if (complete > 0) return
  if (tooLong) throw new Reject('path_too_long', `the path is longer than ${MAX_PATH}`)
  if (bad.signature !== undefined) throw new Reject('bad_signature', bad.signature)
  const stuck = leaf
  throw new Reject(
    'unknown_issuer',
    `no trusted root or given intermediate issued "${stuck.x509.subject}" (issuer "${stuck.x509.issuer}")`,
    0,
  )
}

function checkValidity(c: ParsedCert, depth: number, at: Date): void {
  if (at < c.x509.notBefore) {
    throw new Reject(
      'not_yet_valid',
      `"${c.x509.subject}" is not valid before ${c.x509.notBefore.toISOString()}`,
      depth,
    )
  }
  if (at > c.x509.notAfter) {
    throw new Reject('expired', `"${c.x509.subject}" expired at ${c.x509.notAfter.toISOString()}`, depth)
  }
}

function checkExtensions(c: ParsedCert, depth: number, path: ParsedCert[]): void {
  for (const ext of c.x509.extensions) {
    if (ext.critical && !KNOWN_CRITICAL.has(ext.type)) {
      throw new Reject(
        'unsupported_critical_extension',
        `"${c.x509.subject}" has critical extension ${ext.type}`,
        depth,
      )
    }
  }
  if (depth === 0) return
  const bc = c.x509.getExtension(x509.BasicConstraintsExtension)
  if (bc === null || !bc.ca)
    throw new Reject('not_a_ca', `"${c.x509.subject}" issues certificates but is not a CA`, depth)
  const ku = c.x509.getExtension(x509.KeyUsagesExtension)
  if (ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new Reject(
      'wrong_key_usage',
      `"${c.x509.subject}" may not sign certificates (no keyCertSign)`,
      depth,
    )
  }
  // RFC 5280 §6.1.4(l): self-issued intermediates do not count against a path length constraint
  const below = path.slice(1, depth).filter((x) => !isSelfIssued(x)).length
  if (bc.pathLength !== undefined && below > bc.pathLength) {
    throw new Reject(
      'path_length_exceeded',
      `"${c.x509.subject}" allows ${bc.pathLength} CAs below it`,
      depth,
    )
  }
}

function checkLeafUsage(leaf: ParsedCert, purpose: VerifyExpectations['purpose']): void {
  const subject = leaf.x509.subject
  if (leaf.x509.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new Reject('leaf_is_ca', `"${subject}" is a CA certificate; an identity certificate must not be`, 0)
  }
  const ku = leaf.x509.getExtension(x509.KeyUsagesExtension)
  const signing = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
  if (ku === null || (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0 || (ku.usages & signing) !== 0) {
    throw new Reject(
      'wrong_key_usage',
      `"${subject}" must have keyUsage digitalSignature and not certificate signing`,
      0,
    )
  }
  const eku = leaf.x509.getExtension(x509.ExtendedKeyUsageExtension)
  const usages = (eku?.usages ?? []).map(String)
  // RFC 5280 §4.2.1.12: no extendedKeyUsage = any purpose (the X509-SVID spec only says SHOULD have one)
  if (purpose !== undefined && eku !== null && !usages.includes(EKU[purpose])) {
    throw new Reject(
      'wrong_key_usage',
      `"${subject}" is not allowed for TLS ${purpose} authentication (extendedKeyUsage)`,
      0,
    )
  }
  if (purpose === undefined && eku !== null && !usages.includes(EKU.server) && !usages.includes(EKU.client)) {
    throw new Reject(
      'wrong_key_usage',
      `"${subject}" is allowed neither for TLS server nor client authentication`,
      0,
    )
  }
}

function namesOf(c: ParsedCert): CertNames {
  const san = c.x509.getExtension(x509.SubjectAlternativeNameExtension)
  const names = san?.names.items ?? []
  const of = (type: string) => names.filter((n) => n.type === type).map((n) => n.value)
  const other = names.filter((n) => !['ip', 'url', 'dns'].includes(n.type)).map((n) => `${n.type}:${n.value}`)
  return {
    ips: of('ip'),
    uris: of('url'),
    dns: of('dns'),
    other: c.x509.subject === '' ? other : [...other, 'subject'],
  }
}

function checkSpiffeId(
  leaf: ParsedCert,
  trustDomain: string,
  path: ParsedCert[],
  expect: VerifyExpectations,
): SpiffeId {
  const uris = namesOf(leaf).uris
  if (uris.length === 0) throw new Reject('no_spiffe_id', 'the certificate has no URI SAN (SPIFFE ID)', 0)
  if (uris.length > 1) {
    throw new Reject(
      'multiple_spiffe_ids',
      `the certificate has ${uris.length} URI SANs; an SVID has exactly one`,
      0,
    )
  }
  let id: SpiffeId
  try {
    id = parseSpiffeId(uris[0] as string, { requirePath: true })
  } catch (err) {
    throw new Reject('malformed_spiffe_id', (err as Error).message, 0)
  }
  if (id.trustDomain !== trustDomain) {
    throw new Reject('wrong_trust_domain', `${id.toString()} is not in trust domain "${trustDomain}"`, 0)
  }
  const reserved = id.segments[0] === 'latch'
  if (reserved && (nodeNameOf(id) === undefined || path.length !== 2)) {
    throw new Reject(
      'reserved_spiffe_id',
      `${id.toString()} is a latch node ID but was not issued by the root`,
      0,
    )
  }
  if (expect.kind === 'node' && !reserved)
    throw new Reject('unexpected_spiffe_id', `${id.toString()} is not a node ID`, 0)
  if (expect.kind === 'workload' && reserved) {
    throw new Reject('unexpected_spiffe_id', `${id.toString()} is a node ID, not a workload ID`, 0)
  }
  if (expect.spiffeId !== undefined && expect.spiffeId.toString() !== id.toString()) {
    throw new Reject(
      'unexpected_spiffe_id',
      `expected ${expect.spiffeId.toString()}, got ${id.toString()}`,
      0,
    )
  }
  return id
}

/**
 * RFC 5280 §6.1.3(b)(c): the names of every certificate below a constrained CA must satisfy it, except
 * self-issued intermediates (they are the same CA under a new key).
 */
function checkConstraintsOf(path: ParsedCert[], depth: number, budget: { left: number }): void {
  const ca = path[depth] as ParsedCert
  try {
    const nc = strictConstraintsOf(ca)
    if (nc === undefined) return
    for (let below = 0; below < depth; below++) {
      const c = path[below] as ParsedCert
      if (below > 0 && isSelfIssued(c)) continue
      const why = strictViolation(constrainedNames(fieldsOf(c), below === 0), nc, budget)
      if (why !== undefined) {
        throw new Reject(
          'name_constraint_violation',
          `"${c.x509.subject}" violates the name constraints of "${ca.x509.subject}": ${why}`,
          below,
        )
      }
    }
  } catch (err) {
    if (err instanceof ConstraintError)
      throw new Reject(err.reason, `"${ca.x509.subject}": ${err.message}`, depth)
    throw err
  }
}

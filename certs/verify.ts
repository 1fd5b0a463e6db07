/**
 * verify(): is this certificate chain a valid SPIFFE X.509 identity of the trust domain, and if not, why?
 *
 * Standard RFC 5280 path validation — issuer by name + key identifier and signature (node:crypto, i.e.
 * OpenSSL), validity of every certificate, CA flags, path length, critical extensions, name constraints
 * with OpenSSL's matching rules — followed by the X509-SVID rules of the SPIFFE spec: exactly one URI
 * SAN that is a valid SPIFFE ID in the expected trust domain, a leaf that is not a CA, digitalSignature
 * key usage, and the TLS purpose. Every failure is a typed reason. A TLS handshake with the same roots
 * rejects everything OpenSSL's validation rejects; verify() never accepts what OpenSSL rejects, and it is
 * stricter on the SPIFFE rules. Synchronous and pure (no I/O): safe inside a TLS callback.
 *
 * Why not validate through node:tls itself: OpenSSL's path validation is only reachable from Node
 * through a handshake, which needs the peer's private key; verify() has to judge a chain without it
 * (inspect, inventories, renewals). Tests assert that this and a real TLS 1.3 handshake agree.
 */
import type { X509Certificate as NodeX509 } from 'node:crypto'
import { nodeNameOf, parseSpiffeId, parseTrustDomain, type SpiffeId } from '../daemon/base/spiffe-id.js'
import type { CertInput, ChainInput, ParsedCert } from './chain-input.js'
import { type CertNames, nameConstraintViolation } from './name-constraints.js'
import { ipText, parseIp } from './net.js'
import { nameConstraintsOf, parseChainCached, signatureVerifies } from './parse-cache.js'
import { x509 } from './x509.js'

export type VerifyReason =
  | 'malformed_certificate'
  | 'bad_trust_bundle'
  | 'unknown_issuer'
  | 'bad_signature'
  | 'path_too_long'
  | 'expired'
  | 'not_yet_valid'
  | 'not_a_ca'
  | 'path_length_exceeded'
  | 'unsupported_critical_extension'
  | 'leaf_is_ca'
  | 'wrong_key_usage'
  | 'no_spiffe_id'
  | 'multiple_spiffe_ids'
  | 'malformed_spiffe_id'
  | 'wrong_trust_domain'
  | 'reserved_spiffe_id'
  | 'unexpected_spiffe_id'
  | 'name_constraint_violation'

export interface TrustBundle {
  /** The trusted roots: PEM text (one or more blocks) or certificates. */
  roots: ChainInput
  trustDomain: string
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

class Reject extends Error {
  constructor(
    readonly reason: VerifyReason,
    message: string,
    readonly depth?: number,
  ) {
    super(message)
  }
}

const MAX_PATH = 8
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

function check(chain: ChainInput, bundle: TrustBundle, expect: VerifyExpectations): VerifySuccess {
  const certs = parseOr('malformed_certificate', 'the chain', chain as CertInput)
  const roots = parseOr('bad_trust_bundle', 'the trust bundle', bundle.roots)
  try {
    parseTrustDomain(bundle.trustDomain)
  } catch (err) {
    throw new Reject('bad_trust_bundle', (err as Error).message)
  }
  const path = buildPath(certs, roots)
  const at = expect.at ?? new Date()
  for (const [depth, c] of path.entries()) checkValidity(c, depth, at)
  for (const [depth, c] of path.entries()) checkExtensions(c, depth)
  const leaf = path[0] as ParsedCert
  checkLeafUsage(leaf, expect.purpose)
  const id = checkSpiffeId(leaf, bundle.trustDomain, path, expect)
  for (let depth = 1; depth < path.length; depth++) checkConstraintsOf(path, depth)
  const names = namesOf(leaf)
  return {
    ok: true,
    spiffeId: id.toString(),
    id,
    ips: names.ips.map((ip) => ipText(parseIp(ip))),
    notAfter: new Date(Math.min(...path.map((c) => c.x509.notAfter.getTime()))),
    chain: path.map((c) => c.node),
  }
}

/** Leaf → … → trust anchor, choosing issuers by name/key id (OpenSSL's X509_check_issued) and signature. */
function buildPath(certs: ParsedCert[], roots: ParsedCert[]): ParsedCert[] {
  const path: ParsedCert[] = [certs[0] as ParsedCert]
  const pool = certs.slice(1)
  let badSignature: string | undefined
  const signedBy = (child: ParsedCert, parent: ParsedCert): boolean => {
    if (!child.node.checkIssued(parent.node)) return false
    if (signatureVerifies(child, parent)) return true
    badSignature = `the signature of "${child.x509.subject}" does not verify with the key of "${parent.x509.subject}"`
    return false
  }
  for (;;) {
    const cur = path.at(-1) as ParsedCert
    if (path.length > 1 && roots.some((r) => r.der.equals(cur.der))) return path
    const anchor = roots.find((r) => signedBy(cur, r))
    if (anchor !== undefined) {
      if (!anchor.der.equals(cur.der)) path.push(anchor)
      return path
    }
    const next = pool.find((c) => !path.includes(c) && signedBy(cur, c))
    if (next === undefined) {
      if (badSignature !== undefined) throw new Reject('bad_signature', badSignature, path.length - 1)
      throw new Reject(
        'unknown_issuer',
        `no trusted root or given intermediate issued "${cur.x509.subject}" (issuer "${cur.x509.issuer}")`,
        path.length - 1,
      )
    }
    if (path.length >= MAX_PATH) throw new Reject('path_too_long', `the path is longer than ${MAX_PATH}`)
    path.push(next)
  }
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

function checkExtensions(c: ParsedCert, depth: number): void {
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
  if (bc.pathLength !== undefined && depth - 1 > bc.pathLength) {
    throw new Reject(
      'path_length_exceeded',
      `"${c.x509.subject}" allows ${bc.pathLength} CAs below it`,
      depth,
    )
  }
  const ku = c.x509.getExtension(x509.KeyUsagesExtension)
  if (ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new Reject(
      'wrong_key_usage',
      `"${c.x509.subject}" may not sign certificates (no keyCertSign)`,
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
  if (purpose !== undefined && !usages.includes(EKU[purpose])) {
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

/** RFC 5280 §6.1.3(b)(c): the names of every certificate below a constrained CA must satisfy it. */
function checkConstraintsOf(path: ParsedCert[], depth: number): void {
  const ca = path[depth] as ParsedCert
  let nc: ReturnType<typeof nameConstraintsOf>
  try {
    nc = nameConstraintsOf(ca)
  } catch (err) {
    throw new Reject(
      'malformed_certificate',
      `the name constraints of "${ca.x509.subject}" cannot be parsed: ${(err as Error).message}`,
      depth,
    )
  }
  if (nc === undefined) return
  for (let below = 0; below < depth; below++) {
    const c = path[below] as ParsedCert
    const why = nameConstraintViolation(namesOf(c), nc)
    if (why !== undefined) {
      throw new Reject(
        'name_constraint_violation',
        `"${c.x509.subject}" violates the name constraints of "${ca.x509.subject}": ${why}`,
        below,
      )
    }
  }
}

/**
 * The RFC 5280 profile of one certificate on a path, checked on its raw fields (certs/cert-fields.ts):
 * the structural rules that hold whatever the certificate is used for. Each failure names its reason.
 *
 * | rule (RFC 5280)                                                     | reason                          | OpenSSL   |
 * |---------------------------------------------------------------------|---------------------------------|-----------|
 * | serial number positive, at most 20 octets (§4.1.2.2)                | bad_serial_number               | —         |
 * | times are YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ, no fractions (§4.1.2.5)  | malformed_validity              | —         |
 * | extensions need v3; no extension twice (§4.1.2.9, §4.2)             | malformed_certificate           | rejects   |
 * | a CA has critical basicConstraints (§4.2.1.9)                       | basic_constraints_not_critical  | -x509_strict |
 * | a CA has keyUsage with keyCertSign (§4.2.1.3)                       | wrong_key_usage                 | rejects   |
 * | a CA has a subjectKeyIdentifier (§4.2.1.2)                          | missing_key_identifier          | -x509_strict |
 * | every certificate but a self-signed anchor has an AKI keyIdentifier (§4.2.1.1) | missing_key_identifier | -x509_strict (not the leaf) |
 * | a CA has a subject; an empty subject needs a critical SAN (§4.1.2.6) | empty_subject                  | -x509_strict |
 * | nameConstraints only in a CA, critical, well-formed (§4.2.1.10)     | name_constraints_on_leaf / malformed_name_constraints | partly |
 * | pathLenConstraint only with cA (§4.2.1.9)                           | malformed_certificate           | -x509_strict |
 *
 * Pure; throws Reject.
 */
import type { CertFields, RawExtension } from './cert-fields.js'
import { children, readOne, TAG } from './der.js'
import { extensionOf, OID, rdnsOf } from './general-names.js'
import { ConstraintError, parseStrictConstraints } from './name-constraints-strict.js'
import { Reject } from './verify-reasons.js'

export type Role = 'leaf' | 'ca' | 'anchor'

const UTC = /^\d{12}Z$/
const GENERALIZED = /^\d{14}Z$/

function checkTime(name: string, t: CertFields['notAfter'], subject: string, depth: number): void {
  const ok = t.tag === TAG.utcTime ? UTC.test(t.text) : GENERALIZED.test(t.text)
  if (!ok) {
    throw new Reject(
      'malformed_validity',
      `the ${name} of "${subject}" is encoded as "${t.text}"; RFC 5280 wants whole seconds in Zulu time without fractions`,
      depth,
    )
  }
}

function checkSerial(serial: Buffer, subject: string, depth: number): void {
  const negative = ((serial[0] as number) & 0x80) !== 0
  const zero = serial.every((b) => b === 0)
  if (negative || zero || serial.length > 20) {
    const what = negative ? 'negative' : zero ? 'zero' : `${serial.length} octets long`
    throw new Reject(
      'bad_serial_number',
      `the serial number of "${subject}" is ${what}; RFC 5280 wants a positive integer of at most 20 octets`,
      depth,
    )
  }
}

interface BasicConstraints {
  ca: boolean
  pathLen: number | undefined
}

function basicConstraints(ext: RawExtension | undefined): BasicConstraints | undefined {
  if (ext === undefined) return undefined
  const seq = readOne(ext.value)
  if (seq.tag !== TAG.sequence) throw new Error('basicConstraints: not a SEQUENCE')
  let ca = false
  let pathLen: number | undefined
  for (const t of children(seq)) {
    if (t.tag === 0x01) ca = t.value[0] !== 0
    else if (t.tag === TAG.integer) pathLen = t.value.readUIntBE(0, Math.min(t.value.length, 6))
  }
  return { ca, pathLen }
}

function akiHasKeyId(ext: RawExtension | undefined): boolean {
  if (ext === undefined) return false
  return children(readOne(ext.value)).some((t) => t.context === 0)
}

/** The checks that depend only on one certificate and its role on the path. */
export function checkProfile(
  f: CertFields,
  role: Role,
  subject: string,
  depth: number,
  selfSigned: boolean,
): void {
  const fail = (reason: ConstructorParameters<typeof Reject>[0], why: string) => {
    throw new Reject(reason, `"${subject}" ${why}`, depth)
  }
  checkSerial(f.serial, subject, depth)
  checkTime('notBefore', f.notBefore, subject, depth)
  checkTime('notAfter', f.notAfter, subject, depth)
  if (f.extensions.length > 0 && f.version !== 3)
    fail('malformed_certificate', 'has extensions but is not X.509 v3')
  const seen = new Set<string>()
  for (const e of f.extensions) {
    if (seen.has(e.oid)) fail('malformed_certificate', `carries extension ${e.oid} twice`)
    seen.add(e.oid)
  }
  const bcExt = extensionOf(f, OID.basicConstraints)
  const bc = basicConstraints(bcExt)
  const isCa = role !== 'leaf'
  if (isCa) {
    if (bc === undefined || !bc.ca) fail('not_a_ca', 'issues certificates but is not a CA')
    if (!bcExt?.critical)
      fail('basic_constraints_not_critical', 'is a CA whose basicConstraints are not critical')
    if (extensionOf(f, OID.subjectKeyId) === undefined)
      fail('missing_key_identifier', 'is a CA without a subjectKeyIdentifier')
  } else if (bc?.pathLen !== undefined && !bc.ca) {
    fail('malformed_certificate', 'has a pathLenConstraint but is not a CA')
  }
  if (!selfSigned && !akiHasKeyId(extensionOf(f, OID.authorityKeyId))) {
    fail('missing_key_identifier', 'has no authorityKeyIdentifier with a keyIdentifier')
  }
  const emptySubject = rdnsOf(f.subject.raw).length === 0
  if (emptySubject) {
    if (isCa) fail('empty_subject', 'is a CA with an empty subject')
    const san = extensionOf(f, OID.subjectAltName)
    if (san === undefined || !san.critical)
      fail('empty_subject', 'has an empty subject and no critical subjectAltName')
  }
  const nc = extensionOf(f, OID.nameConstraints)
  if (nc !== undefined) {
    if (!isCa && !bc?.ca) fail('name_constraints_on_leaf', 'is not a CA but carries name constraints')
    if (!nc.critical) fail('malformed_name_constraints', 'has name constraints that are not critical')
    try {
      parseStrictConstraints(nc.value)
    } catch (err) {
      if (err instanceof ConstraintError) fail(err.reason, `has malformed name constraints: ${err.message}`)
      throw err
    }
  }
}

/**
 * GeneralName (RFC 5280 §4.2.1.6) read from DER, kept raw: the parsed views of @peculiar/x509 turn an
 * IP constraint of the wrong length into a string and count the one-bits of a non-contiguous mask,
 * which is exactly what strict validation must see. Also the names a certificate carries for name
 * constraint checks (§6.1.3(b)): its SANs, its subject DN, e-mail addresses in the subject, and — as
 * OpenSSL does — host names in the leaf's common names when it has no DNS SAN. Pure.
 */
import type { CertFields } from './cert-fields.js'
import { children, oidText, readOne, TAG, type Tlv } from './der.js'

export type NameType = 'otherName' | 'rfc822' | 'dns' | 'x400' | 'dirName' | 'edi' | 'uri' | 'ip' | 'rid'

const TYPES: readonly NameType[] = [
  'otherName',
  'rfc822',
  'dns',
  'x400',
  'dirName',
  'edi',
  'uri',
  'ip',
  'rid',
]

export interface GeneralName {
  readonly type: NameType
  /** Content octets (for dirName: the Name SEQUENCE TLV; for otherName: the whole content). */
  readonly value: Buffer
  /** otherName only: the type-id OID. */
  readonly typeId?: string
}

export const OID = {
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  commonName: '2.5.4.3',
  emailAddress: '1.2.840.113549.1.9.1',
} as const

export function generalName(t: Tlv): GeneralName {
  const n = t.context
  const type = n === undefined ? undefined : TYPES[n]
  if (type === undefined) throw new Error(`GeneralName: unknown tag 0x${t.tag.toString(16)}`)
  if (type === 'dirName') {
    const [name] = children(t)
    if (name?.tag !== TAG.sequence) throw new Error('GeneralName: directoryName is not a Name')
    return { type, value: name.raw }
  }
  if (type === 'otherName') {
    const [oid] = children(t)
    if (oid?.tag !== TAG.oid) throw new Error('GeneralName: otherName without a type-id')
    return { type, value: t.value, typeId: oidText(oid.value) }
  }
  return { type, value: t.value }
}

/** GeneralNames (a SAN extension's value). */
export function generalNames(value: Buffer): GeneralName[] {
  const seq = readOne(value)
  if (seq.tag !== TAG.sequence) throw new Error('GeneralNames: not a SEQUENCE')
  return children(seq).map(generalName)
}

/** One AttributeTypeAndValue of a Name. */
export interface Attribute {
  readonly oid: string
  /** Canonical text for comparisons (lower case, runs of spaces folded, trimmed), or hex for non-strings. */
  readonly canonical: string
  readonly text: string
}

const STRING_TAGS = new Set([TAG.utf8String, TAG.printableString, TAG.ia5String, 0x14, 0x1c, 0x1e])

function attribute(t: Tlv): Attribute {
  const [oid, value] = children(t)
  if (oid?.tag !== TAG.oid || value === undefined) throw new Error('Name: bad attribute')
  const isString = STRING_TAGS.has(value.tag as never)
  const text =
    value.tag === 0x1e ? Buffer.from(value.value).swap16().toString('utf16le') : value.value.toString('utf8')
  return {
    oid: oidText(oid.value),
    text,
    canonical: isString ? text.trim().replace(/\s+/g, ' ').toLowerCase() : value.raw.toString('hex'),
  }
}

/** A Name (its SEQUENCE TLV raw) as RDNs of attributes. */
export function rdnsOf(nameRaw: Buffer): Attribute[][] {
  const seq = readOne(Buffer.from(nameRaw))
  if (seq.tag !== TAG.sequence) throw new Error('Name: not a SEQUENCE')
  return children(seq).map((set) => {
    if (set.tag !== TAG.set) throw new Error('Name: an RDN is not a SET')
    return children(set).map(attribute)
  })
}

export function extensionOf(f: CertFields, oid: string) {
  return f.extensions.find((e) => e.oid === oid)
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/i

export function isHostname(text: string): boolean {
  return HOSTNAME.test(text)
}

/**
 * The names of a certificate that name constraints apply to. `leaf`: also host names found in common
 * names when there is no DNS SAN (OpenSSL's NAME_CONSTRAINTS_check_CN does the same).
 */
export function constrainedNames(f: CertFields, leaf: boolean): GeneralName[] {
  const san = extensionOf(f, OID.subjectAltName)
  const names = san === undefined ? [] : generalNames(san.value)
  const rdns = rdnsOf(f.subject.raw)
  const out = [...names]
  if (rdns.length > 0) out.push({ type: 'dirName', value: f.subject.raw })
  for (const attr of rdns.flat()) {
    if (attr.oid === OID.emailAddress) out.push({ type: 'rfc822', value: Buffer.from(attr.text, 'utf8') })
  }
  if (leaf && !names.some((n) => n.type === 'dns')) {
    for (const attr of rdns.flat()) {
      if (attr.oid === OID.commonName && attr.text.includes('.') && isHostname(attr.text)) {
        out.push({ type: 'dns', value: Buffer.from(attr.text, 'latin1') })
      }
    }
  }
  return out
}

/**
 * The raw fields of a certificate that RFC 5280 profile checks need and parsed views hide: the
 * version, the serial number's octets, how notBefore/notAfter are encoded, the subject and issuer as
 * DER, and every extension as (OID, critical, value octets). Read once per certificate with the DER
 * reader (certs/der.ts); throws a plain Error on a structure that is not a certificate. Pure.
 */
import { children, oidText, readOne, TAG, type Tlv } from './der.js'

export interface RawExtension {
  readonly oid: string
  readonly critical: boolean
  readonly value: Buffer
}

export interface RawTime {
  /** TAG.utcTime or TAG.generalizedTime. */
  readonly tag: number
  readonly text: string
}

export interface CertFields {
  /** 1, 2 or 3. */
  readonly version: number
  /** The content octets of the serial number INTEGER (two's complement, big-endian). */
  readonly serial: Buffer
  readonly issuer: Tlv
  readonly subject: Tlv
  readonly notBefore: RawTime
  readonly notAfter: RawTime
  readonly extensions: readonly RawExtension[]
}

function time(t: Tlv): RawTime {
  if (t.tag !== TAG.utcTime && t.tag !== TAG.generalizedTime) throw new Error('validity: not a Time')
  return { tag: t.tag, text: t.value.toString('latin1') }
}

function extensionsOf(explicit: Tlv): RawExtension[] {
  const [seq] = children(explicit)
  if (seq === undefined || seq.tag !== TAG.sequence) throw new Error('extensions: not a SEQUENCE')
  return children(seq).map((ext) => {
    const parts = children(ext)
    const [oid, second, third] = parts
    if (oid?.tag !== TAG.oid) throw new Error('extension: no OID')
    const hasCritical = second?.tag === 0x01
    const value = hasCritical ? third : second
    if (value?.tag !== TAG.octetString) throw new Error('extension: no value')
    if (parts.length !== (hasCritical ? 3 : 2)) throw new Error('extension: unexpected fields')
    return { oid: oidText(oid.value), critical: hasCritical && second.value[0] !== 0, value: value.value }
  })
}

export function certFields(der: Buffer): CertFields {
  const [tbs] = children(readOne(der))
  if (tbs === undefined || tbs.tag !== TAG.sequence) throw new Error('certificate: no tbsCertificate')
  const f = children(tbs)
  let i = 0
  let version = 1
  if (f[0]?.context === 0) {
    const [v] = children(f[0])
    if (v?.tag !== TAG.integer || v.value.length !== 1) throw new Error('certificate: bad version')
    version = (v.value[0] as number) + 1
    i = 1
  }
  const [serial, , issuer, validity, subject] = f.slice(i)
  if (serial?.tag !== TAG.integer || serial.value.length === 0) throw new Error('certificate: bad serial')
  if (issuer?.tag !== TAG.sequence || subject?.tag !== TAG.sequence) throw new Error('certificate: bad name')
  if (validity?.tag !== TAG.sequence) throw new Error('certificate: bad validity')
  const [notBefore, notAfter] = children(validity)
  if (notBefore === undefined || notAfter === undefined) throw new Error('certificate: bad validity')
  const exts = f.find((t) => t.context === 3)
  return {
    version,
    serial: serial.value,
    issuer,
    subject,
    notBefore: time(notBefore),
    notAfter: time(notAfter),
    extensions: exts === undefined ? [] : extensionsOf(exts),
  }
}

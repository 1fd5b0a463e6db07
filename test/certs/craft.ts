/**
 * Crafting certificates no issuer of ours would make, for the strict-validation table: a tiny DER
 * encoder for raw extension values, and re-signing a certificate after editing its TBSCertificate
 * (serial numbers of any length, fractional-second times, empty subjects, dropped extensions).
 */
import { createPublicKey, sign, webcrypto } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate, Time } from '@peculiar/asn1-x509'
import { keyObjectFromPem } from '../../certs/keys.js'
import { parseCertificates, toPem, x509 } from '../../certs/x509.js'

/** One DER TLV (short or long form length). */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  const n = body.length
  const len =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}

export const seq = (...c: Buffer[]) => tlv(0x30, ...c)

/** GeneralName encodings (context tags of RFC 5280 GeneralName). */
export const gn = {
  ip: (...bytes: number[]) => tlv(0x87, Buffer.from(bytes)),
  dns: (text: string) => tlv(0x82, Buffer.from(text, 'latin1')),
  uri: (text: string) => tlv(0x86, Buffer.from(text, 'latin1')),
  /** directoryName of one RDN per [oid-bytes, printable value] pair. */
  dir: (name: Buffer) => tlv(0xa4, name),
  /** otherName with the given type-id content octets and a UTF8String value. */
  other: (oid: number[], value: string) =>
    tlv(0xa0, tlv(0x06, Buffer.from(oid)), tlv(0xa0, tlv(0x0c, Buffer.from(value)))),
}

/** A Name from [OID content octets, value] RDNs (PrintableString values). */
export function dn(...rdns: Array<[number[], string]>): Buffer {
  return seq(
    ...rdns.map(([oid, v]) => tlv(0x31, seq(tlv(0x06, Buffer.from(oid)), tlv(0x13, Buffer.from(v))))),
  )
}

export const OIDS = { O: [0x55, 0x04, 0x0a], CN: [0x55, 0x04, 0x03] }

/** A nameConstraints extension from permitted (and optionally excluded) GeneralSubtree bases. */
export function ncExtension(
  permitted: Buffer[],
  excluded: Buffer[] = [],
  opts: { critical?: boolean; subtree?: (base: Buffer) => Buffer } = {},
): x509.Extension {
  const subtree = opts.subtree ?? ((b: Buffer) => seq(b))
  const parts = [
    ...(permitted.length > 0 ? [tlv(0xa0, ...permitted.map(subtree))] : []),
    ...(excluded.length > 0 ? [tlv(0xa1, ...excluded.map(subtree))] : []),
  ]
  return new x509.Extension('2.5.29.30', opts.critical ?? true, seq(...parts))
}

/** The SHA-1 key identifier of a PEM key's public key, as issuers compute it (RFC 5280 §4.2.1.2 (1)). */
export async function keyIdOf(keyPem: string): Promise<string> {
  const pub = createPublicKey(keyObjectFromPem(keyPem))
  const spki = pub.export({ type: 'spki', format: 'der' })
  const key = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'verify',
  ])
  const ski = await x509.SubjectKeyIdentifierExtension.create(key as never)
  return ski.keyId
}

/**
 * Re-sign `certPem` with `issuerKeyPem` after `edit` changed its TBSCertificate. For what the
 * generator cannot express: serial octets, time encodings, empty names, removed extensions.
 */
export function resign(certPem: string, issuerKeyPem: string, edit: (c: Certificate) => void): string {
  const [cert] = parseCertificates(certPem)
  const asn = AsnConvert.parse((cert as x509.X509Certificate).rawData, Certificate)
  edit(asn)
  const tbs = Buffer.from(AsnConvert.serialize(asn.tbsCertificate))
  asn.signatureValue = new Uint8Array(sign('sha256', tbs, keyObjectFromPem(issuerKeyPem))).buffer
  return toPem(new x509.X509Certificate(AsnConvert.serialize(asn)))
}

export const edits = {
  serial: (hex: string) => (c: Certificate) => {
    c.tbsCertificate.serialNumber = new Uint8Array(Buffer.from(hex, 'hex')).buffer
  },
  fractionalNotAfter: (c: Certificate) => {
    const at = new Date(Date.now() + 3_600_000)
    at.setUTCMilliseconds(500)
    c.tbsCertificate.validity.notAfter = new Time({ generalTime: at })
  },
  emptySubject: (c: Certificate) => {
    c.tbsCertificate.subject.length = 0
  },
  dropExtension: (oid: string) => (c: Certificate) => {
    const exts = c.tbsCertificate.extensions
    if (exts === undefined) return
    const keep = exts.filter((e) => e.extnID !== oid)
    exts.length = 0
    exts.push(...keep)
  },
  duplicateExtension: (oid: string) => (c: Certificate) => {
    const e = c.tbsCertificate.extensions?.find((x) => x.extnID === oid)
    if (e !== undefined) c.tbsCertificate.extensions?.push(e)
  },
}

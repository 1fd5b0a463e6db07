/**
 * A minimal DER reader: enough to see the bytes that parsed views hide (a serial number's octets, how
 * a validity time is encoded, the raw form of name constraints and of a subject). It only walks
 * tag-length-value triples; every read is bounds-checked and throws a plain Error on anything
 * malformed (verify() turns that into a typed reason). Pure.
 */

export interface Tlv {
  /** The identifier octet (class | constructed | tag number; tag numbers above 30 are refused). */
  readonly tag: number
  readonly constructed: boolean
  /** The context-specific tag number when the class is context-specific, else undefined. */
  readonly context: number | undefined
  /** The content octets. */
  readonly value: Buffer
  /** The whole triple (header + content). */
  readonly raw: Buffer
}

export const TAG = {
  integer: 0x02,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
} as const

/** One TLV at `offset` of `buf`, and where the next one starts. */
export function readTlv(buf: Buffer, offset = 0): { tlv: Tlv; next: number } {
  if (offset + 2 > buf.length) throw new Error('DER: truncated header')
  const tag = buf[offset] as number
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag numbers are not used in certificates')
  let len = buf[offset + 1] as number
  let start = offset + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4) throw new Error('DER: bad length')
    if (start + n > buf.length) throw new Error('DER: truncated length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number)
    start += n
  }
  const end = start + len
  if (end > buf.length) throw new Error('DER: content runs past the end')
  const tlv: Tlv = {
    tag,
    constructed: (tag & 0x20) !== 0,
    context: (tag & 0xc0) === 0x80 ? tag & 0x1f : undefined,
    value: buf.subarray(start, end),
    raw: buf.subarray(offset, end),
  }
  return { tlv, next: end }
}

/** The one TLV that `buf` holds exactly. */
export function readOne(buf: Buffer): Tlv {
  const { tlv, next } = readTlv(buf)
  if (next !== buf.length) throw new Error('DER: trailing bytes')
  return tlv
}

/** The TLVs inside a constructed value. */
export function children(tlv: Tlv): Tlv[] {
  if (!tlv.constructed) throw new Error('DER: expected a constructed value')
  const out: Tlv[] = []
  let offset = 0
  while (offset < tlv.value.length) {
    const { tlv: child, next } = readTlv(tlv.value, offset)
    out.push(child)
    offset = next
  }
  return out
}

/** Dotted text of an OBJECT IDENTIFIER's content octets. */
export function oidText(value: Buffer): string {
  if (value.length === 0) throw new Error('DER: empty OID')
  const first = value[0] as number
  const parts = [Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40))]
  let n = 0
  for (const b of value.subarray(1)) {
    n = n * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      parts.push(n)
      n = 0
    }
  }
  return parts.join('.')
}

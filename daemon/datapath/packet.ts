/**
 * Builds Ethernet frames with IPv4 (or IPv6) and TCP, UDP, SCTP or ICMP on top, checksums included
 * (SCTP's CRC32c is left 0: the programs read ports only), for BPF_PROG_TEST_RUN: the tests, the
 * datapath benchmark and `latchctl policy test --datapath`. Pure.
 */
import ipaddr from 'ipaddr.js'

export type L4 =
  | { proto: 'tcp'; sport: number; dport: number; flags?: number; payload?: Uint8Array }
  | { proto: 'udp'; sport: number; dport: number; payload?: Uint8Array }
  | { proto: 'sctp'; sport: number; dport: number; payload?: Uint8Array }
  | { proto: 'icmp'; type: number; code: number; id?: number; seq?: number; payload?: Uint8Array }

/** An IPv6 extension header placed between the fixed header and L4 (8 bytes each). */
export type Ipv6Ext = 'hop-by-hop' | 'routing' | 'destination'

/** Fragmentation of the packet: offset in 8-byte units; later fragments carry no L4 header. */
export interface Fragment {
  offset: number
  more: boolean
  id: number
}

export interface FrameSpec {
  src: string
  dst: string
  l4: L4
  ttl?: number
  /** IPv6 only: extension headers in this order (a fragment header, if any, comes after them) */
  ext?: Ipv6Ext[]
  fragment?: Fragment
}

const EXT_NUMBER: Record<Ipv6Ext, number> = { 'hop-by-hop': 0, routing: 43, destination: 60 }

const PROTO = { tcp: 6, udp: 17, sctp: 132, icmp: 1 } as const
const ICMPV6 = 58

/** RFC 1071 internet checksum of the concatenation of `parts`. */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0
  let odd: number | null = null
  for (const p of parts) {
    for (const byte of p) {
      if (odd === null) odd = byte
      else {
        sum += (odd << 8) | byte
        odd = null
      }
    }
  }
  if (odd !== null) sum += odd << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

function l4Bytes(l4: L4): Buffer {
  const payload = Buffer.from(l4.payload ?? new Uint8Array(0))
  switch (l4.proto) {
    case 'tcp': {
      const h = Buffer.alloc(20)
      h.writeUInt16BE(l4.sport, 0)
      h.writeUInt16BE(l4.dport, 2)
      h.writeUInt32BE(1, 4) // seq
      h[12] = 5 << 4 // data offset
      h[13] = l4.flags ?? 0x02 // SYN
      h.writeUInt16BE(64240, 14) // window
      return Buffer.concat([h, payload])
    }
    case 'udp': {
      const h = Buffer.alloc(8)
      h.writeUInt16BE(l4.sport, 0)
      h.writeUInt16BE(l4.dport, 2)
      h.writeUInt16BE(8 + payload.length, 4)
      return Buffer.concat([h, payload])
    }
    case 'sctp': {
      const h = Buffer.alloc(12) // common header: ports, verification tag, checksum (left 0)
      h.writeUInt16BE(l4.sport, 0)
      h.writeUInt16BE(l4.dport, 2)
      h.writeUInt32BE(1, 4)
      return Buffer.concat([h, payload])
    }
    case 'icmp': {
      const h = Buffer.alloc(8)
      h[0] = l4.type
      h[1] = l4.code
      h.writeUInt16BE(l4.id ?? 1, 4)
      h.writeUInt16BE(l4.seq ?? 1, 6)
      return Buffer.concat([h, payload])
    }
  }
}

const CSUM_OFFSET = { tcp: 16, udp: 6, icmp: 2 } as const

function ethernet(etherType: number): Buffer {
  const eth = Buffer.alloc(14)
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(eth, 0) // dst MAC (locally administered)
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(eth, 6) // src MAC
  eth.writeUInt16BE(etherType, 12)
  return eth
}

/** An Ethernet frame carrying one IPv4 or IPv6 packet with valid IP and L4 checksums. */
export function frame(spec: FrameSpec): Buffer {
  const src = ipaddr.parse(spec.src)
  const dst = ipaddr.parse(spec.dst)
  if (src.kind() !== dst.kind()) throw new Error('src and dst must be the same family')
  const frag = spec.fragment
  const later = frag !== undefined && frag.offset > 0
  const l4 = later ? Buffer.from(spec.l4.payload ?? new Uint8Array(16).fill(0xab)) : l4Bytes(spec.l4)
  const srcB = Buffer.from(src.toByteArray())
  const dstB = Buffer.from(dst.toByteArray())

  if (src.kind() === 'ipv4') {
    const proto = PROTO[spec.l4.proto]
    const ip = Buffer.alloc(20)
    ip[0] = 0x45
    ip.writeUInt16BE(20 + l4.length, 2)
    ip.writeUInt16BE(frag?.id ?? 0x1234, 4) // id
    ip.writeUInt16BE(frag ? (frag.more ? 0x2000 : 0) | frag.offset : 0x4000, 6) // MF/offset, or DF
    ip[8] = spec.ttl ?? 64
    ip[9] = proto
    srcB.copy(ip, 12)
    dstB.copy(ip, 16)
    ip.writeUInt16BE(inetChecksum(ip), 10)
    if (later || spec.l4.proto === 'sctp') {
      // a later fragment: no L4 header; SCTP: CRC32c left 0
    } else if (spec.l4.proto !== 'icmp') {
      const pseudo = Buffer.alloc(12)
      srcB.copy(pseudo, 0)
      dstB.copy(pseudo, 4)
      pseudo[9] = proto
      pseudo.writeUInt16BE(l4.length, 10)
      l4.writeUInt16BE(inetChecksum(pseudo, l4), CSUM_OFFSET[spec.l4.proto])
    } else {
      l4.writeUInt16BE(inetChecksum(l4), CSUM_OFFSET.icmp)
    }
    return Buffer.concat([ethernet(0x0800), ip, l4])
  }

  const next = spec.l4.proto === 'icmp' ? ICMPV6 : PROTO[spec.l4.proto]
  // extension headers: each 8 bytes, chained by their first byte
  const chain: { type: number; body: Buffer }[] = (spec.ext ?? []).map((e) => ({
    type: EXT_NUMBER[e],
    body: Buffer.alloc(8),
  }))
  if (frag) {
    const f = Buffer.alloc(8)
    f.writeUInt16BE((frag.offset << 3) | (frag.more ? 1 : 0), 2)
    f.writeUInt32BE(frag.id, 4)
    chain.push({ type: 44, body: f })
  }
  for (const [i, h] of chain.entries()) {
    h.body[0] = chain[i + 1]?.type ?? next
    if (h.type === 43) h.body[2] = 4 // routing type 4 (segment routing), 0 segments left
    if (h.type === 0 || h.type === 60) Buffer.from([1, 4, 0, 0, 0, 0]).copy(h.body, 2) // PadN
  }
  const ext = Buffer.concat(chain.map((h) => h.body))
  const ip6 = Buffer.alloc(40)
  ip6.writeUInt32BE(0x6000_0000, 0)
  ip6.writeUInt16BE(ext.length + l4.length, 4)
  ip6[6] = chain[0]?.type ?? next
  ip6[7] = spec.ttl ?? 64
  srcB.copy(ip6, 8)
  dstB.copy(ip6, 24)
  const pseudo = Buffer.alloc(40)
  srcB.copy(pseudo, 0)
  dstB.copy(pseudo, 16)
  pseudo.writeUInt32BE(l4.length, 32)
  pseudo[39] = next
  if (!later && spec.l4.proto !== 'sctp') {
    l4.writeUInt16BE(inetChecksum(pseudo, l4), CSUM_OFFSET[spec.l4.proto])
  }
  return Buffer.concat([ethernet(0x86dd), ip6, ext, l4])
}

/**
 * The IP header and first 8 bytes of L4 of `quoted`, as an ICMP error quotes the packet that caused
 * it (RFC 792 / RFC 4443): the payload of an ICMP error frame.
 */
export function quote(quoted: FrameSpec): Buffer {
  const f = frame(quoted)
  const ipLen = f[12] === 0x86 ? 40 : (f[14]! & 0xf) * 4
  return f.subarray(14, 14 + ipLen + 8)
}

/** A non-IP frame (ARP request) for the "untouched" cases. */
export function arpFrame(): Buffer {
  const arp = Buffer.alloc(28)
  arp.writeUInt16BE(1, 0) // Ethernet
  arp.writeUInt16BE(0x0800, 2)
  arp[4] = 6
  arp[5] = 4
  arp.writeUInt16BE(1, 6) // request
  return Buffer.concat([ethernet(0x0806), arp])
}

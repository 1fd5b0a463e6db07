/**
 * Builds Ethernet frames with IPv4 (or IPv6) and TCP, UDP or ICMP on top, checksums included, for
 * BPF_PROG_TEST_RUN tests and the datapath benchmark.
 */
import ipaddr from 'ipaddr.js'

export type L4 =
  | { proto: 'tcp'; sport: number; dport: number; flags?: number; payload?: Uint8Array }
  | { proto: 'udp'; sport: number; dport: number; payload?: Uint8Array }
  | { proto: 'icmp'; type: number; code: number; id?: number; seq?: number; payload?: Uint8Array }

export interface FrameSpec {
  src: string
  dst: string
  l4: L4
  ttl?: number
}

const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const
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
  const l4 = l4Bytes(spec.l4)
  const srcB = Buffer.from(src.toByteArray())
  const dstB = Buffer.from(dst.toByteArray())

  if (src.kind() === 'ipv4') {
    const proto = PROTO[spec.l4.proto]
    const ip = Buffer.alloc(20)
    ip[0] = 0x45
    ip.writeUInt16BE(20 + l4.length, 2)
    ip.writeUInt16BE(0x1234, 4) // id
    ip.writeUInt16BE(0x4000, 6) // DF
    ip[8] = spec.ttl ?? 64
    ip[9] = proto
    srcB.copy(ip, 12)
    dstB.copy(ip, 16)
    ip.writeUInt16BE(inetChecksum(ip), 10)
    if (spec.l4.proto !== 'icmp') {
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
  const ip6 = Buffer.alloc(40)
  ip6.writeUInt32BE(0x6000_0000, 0)
  ip6.writeUInt16BE(l4.length, 4)
  ip6[6] = next
  ip6[7] = spec.ttl ?? 64
  srcB.copy(ip6, 8)
  dstB.copy(ip6, 24)
  const pseudo = Buffer.alloc(40)
  srcB.copy(pseudo, 0)
  dstB.copy(pseudo, 16)
  pseudo.writeUInt32BE(l4.length, 32)
  pseudo[39] = next
  l4.writeUInt16BE(inetChecksum(pseudo, l4), CSUM_OFFSET[spec.l4.proto])
  return Buffer.concat([ethernet(0x86dd), ip6, l4])
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

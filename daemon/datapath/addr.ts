/**
 * IP addresses and prefixes <-> the datapath's 16-byte form (latch_abi.h: IPv4 is IPv4-mapped, so
 * an IPv4 /n is an ipcache prefix of 96 + n bits). Pure.
 */
import ipaddr from 'ipaddr.js'
import { LatchError } from '../base/errors.js'
import { plainIpv4 } from '../base/ipv4.js'

const V4_MAPPED_BITS = 96

export interface Prefix {
  /** bits of `addr` that count, 0..128 (IPv4 /n = 96 + n) */
  prefixlen: number
  /** 16 bytes, network order */
  addr: Uint8Array
}

function parseIp(ip: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip)
  if (ipaddr.IPv6.isValid(ip) && !ip.includes('%')) return ipaddr.IPv6.parse(ip)
  throw new LatchError('LATCH_ERR_NET_BAD_IP', `"${ip}" is not an IPv4 or IPv6 address`)
}

function toBytes(a: ipaddr.IPv4 | ipaddr.IPv6): Uint8Array {
  const v6 = a.kind() === 'ipv4' ? (a as ipaddr.IPv4).toIPv4MappedAddress() : (a as ipaddr.IPv6)
  return Uint8Array.from(v6.toByteArray())
}

function mappedBytes(v4: number): Uint8Array {
  const b = new Uint8Array(16)
  b[10] = 0xff
  b[11] = 0xff
  b[12] = v4 >>> 24
  b[13] = (v4 >>> 16) & 0xff
  b[14] = (v4 >>> 8) & 0xff
  b[15] = v4 & 0xff
  return b
}

/** The dotted quad of an IPv4-mapped 16-byte address (::ffff:a.b.c.d), undefined for any other. */
function mappedIpv4(b: Uint8Array): string | undefined {
  if (b.length !== 16 || b[10] !== 0xff || b[11] !== 0xff) return undefined
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return undefined
  return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`
}

/** One address as the datapath stores it (IPv4 mapped). */
export function ipToBytes(ip: string): Uint8Array {
  const v4 = plainIpv4(ip, 0, ip.length)
  if (v4 >= 0) return mappedBytes(v4)
  return toBytes(parseIp(ip))
}

/** Prints a 16-byte address: dotted quad for IPv4-mapped, RFC 5952 otherwise. */
export function bytesToIp(bytes: Uint8Array): string {
  return mappedIpv4(bytes) ?? (ipaddr.fromByteArray(Array.from(bytes)) as ipaddr.IPv6).toString()
}

/**
 * A CIDR ("10.100.1.0/24", "fd00::/64") or a single address ("10.100.1.11" = /32) as an ipcache
 * prefix. Host bits must be zero.
 */
export function parsePrefix(s: string): Prefix {
  const fast = fastPrefix(s)
  if (fast !== undefined) return fast
  if (!s.includes('/')) {
    const a = parseIp(s)
    return { prefixlen: 128, addr: toBytes(a) }
  }
  const slash = s.indexOf('/')
  const ipPart = s.slice(0, slash)
  const lenPart = s.slice(slash + 1)
  let addr: ipaddr.IPv4 | ipaddr.IPv6
  try {
    addr = parseIp(ipPart)
  } catch (err) {
    throw new LatchError('LATCH_ERR_NET_BAD_CIDR', `"${s}" is not a CIDR`, { cause: err })
  }
  const max = addr.kind() === 'ipv4' ? 32 : 128
  const len = /^\d{1,3}$/.test(lenPart) ? Number(lenPart) : Number.NaN
  if (!(len >= 0 && len <= max)) {
    throw new LatchError('LATCH_ERR_NET_BAD_CIDR', `"${s}": the prefix length must be 0..${max}`)
  }
  const network =
    addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(s) : ipaddr.IPv6.networkAddressFromCIDR(s)
  if (network.toString() !== addr.toString()) {
    throw new LatchError(
      'LATCH_ERR_NET_BAD_CIDR',
      `"${s}" has host bits set; did you mean ${network}/${len}?`,
    )
  }
  return { prefixlen: addr.kind() === 'ipv4' ? V4_MAPPED_BITS + len : len, addr: toBytes(addr) }
}

/** IPv4 without host bits ("10.1.2.3", "10.1.0.0/16"); undefined: the general path decides. */
function fastPrefix(s: string): Prefix | undefined {
  const slash = s.indexOf('/')
  const v4 = plainIpv4(s, 0, slash < 0 ? s.length : slash)
  if (v4 < 0) return undefined
  if (slash < 0) return { prefixlen: 128, addr: mappedBytes(v4) }
  const lenPart = s.slice(slash + 1)
  if (!/^\d{1,3}$/.test(lenPart)) return undefined
  const len = Number(lenPart)
  if (len > 32) return undefined
  const hostBits = len === 32 ? 0 : 2 ** (32 - len) - 1
  if (v4 % (hostBits + 1) !== 0) return undefined // host bits set: the general path names the network
  return { prefixlen: V4_MAPPED_BITS + len, addr: mappedBytes(v4) }
}

/** The inverse of parsePrefix: "10.100.1.0/24", "fd00::/64" (single addresses keep their /32 or /128). */
export function formatPrefix(p: Prefix): string {
  const v4 = p.prefixlen >= V4_MAPPED_BITS ? mappedIpv4(p.addr) : undefined
  if (v4 !== undefined) return `${v4}/${p.prefixlen - V4_MAPPED_BITS}`
  return `${(ipaddr.fromByteArray(Array.from(p.addr)) as ipaddr.IPv6).toString()}/${p.prefixlen}`
}

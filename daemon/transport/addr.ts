import ipaddr from 'ipaddr.js'
import { plainIpv4 } from '../base/ipv4.js'

export { plainIpv4 }

/**
 * Address helpers shared by the WireGuard diff and the route diff. Every prefix and endpoint is
 * brought into one canonical text form so "desired" and "what `wg`/the kernel report" compare as
 * strings.
 */

/**
 * `a.b.c.d/len` in its plain form (decimal octets and length without leading zeros, no spaces) →
 * address as a 32-bit number and length; undefined for anything else, which ipaddr.js then parses
 * (and refuses) as before. The same result ipaddr.parseCIDR gives for these inputs, ~20× cheaper:
 * ipaddr.parseCIDR tries IPv6 first and throws for every IPv4 prefix; 10k peers' allowed IPs,
 * `wg show dump` and the route table go through here on every reconcile.
 */
export function plainIpv4Cidr(s: string): { v4: number; len: number } | undefined {
  const slash = s.indexOf('/')
  if (slash < 0) return undefined
  const v4 = plainIpv4(s, 0, slash)
  if (v4 < 0) return undefined
  let len = 0
  const digits = s.length - slash - 1
  if (digits < 1 || digits > 2) return undefined
  for (let i = slash + 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57 || (i === slash + 1 && c === 48 && digits > 1)) return undefined
    len = len * 10 + (c - 48)
  }
  return len <= 32 ? { v4, len } : undefined
}

export function dottedIpv4(v4: number): string {
  return `${v4 >>> 24}.${(v4 >>> 16) & 0xff}.${(v4 >>> 8) & 0xff}.${v4 & 0xff}`
}

const maskOf = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0)

/** Canonical `addr/len` with host bits cleared (`10.100.2.7/24` → `10.100.2.0/24`), or undefined. */
export function canonicalPrefix(cidr: string): string | undefined {
  const fast = plainIpv4Cidr(cidr)
  if (fast) return `${dottedIpv4((fast.v4 & maskOf(fast.len)) >>> 0)}/${fast.len}`
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr.trim())
    const network = networkOf(addr, len)
    return `${network.toString()}/${len}`
  } catch {
    return undefined
  }
}

/** Canonical `addr/len` keeping the host bits (for interface addresses such as `10.101.0.1/32`). */
export function canonicalInterfaceAddress(cidr: string): string | undefined {
  if (plainIpv4Cidr(cidr)) return cidr // the plain form is the canonical one
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr.trim())
    return `${addr.toString()}/${len}`
  } catch {
    return undefined
  }
}

/** `ip:port` / `[v6]:port` in the form `wg show dump` prints, or undefined when malformed. */
export function canonicalEndpoint(endpoint: string): string | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(endpoint) ?? /^([^:]+):(\d{1,5})$/.exec(endpoint)
  if (!m?.[1] || !m[2]) return undefined
  const port = Number(m[2])
  if (port < 1 || port > 65535 || !ipaddr.isValid(m[1])) return undefined
  const ip = ipaddr.parse(m[1])
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6
    // wg prints v4-mapped endpoints as plain IPv4
    if (v6.isIPv4MappedAddress()) return `${v6.toIPv4Address().toString()}:${port}`
    return `[${v6.toString()}]:${port}`
  }
  return `${ip.toString()}:${port}`
}

/** Address family of a canonical prefix. */
export function familyOf(cidr: string): 4 | 6 {
  return cidr.includes(':') ? 6 : 4
}

/** Raw bytes of the address part of a prefix (for netlink). */
export function prefixBytes(cidr: string): { bytes: Buffer; len: number; family: 4 | 6 } {
  const fast = plainIpv4Cidr(cidr)
  if (fast) {
    const bytes = Buffer.alloc(4)
    bytes.writeUInt32BE(fast.v4)
    return { bytes, len: fast.len, family: 4 }
  }
  const [addr, len] = ipaddr.parseCIDR(cidr)
  return { bytes: Buffer.from(addr.toByteArray()), len, family: addr.kind() === 'ipv6' ? 6 : 4 }
}

/** Raw bytes (4 or 16) of a bare address. */
export function addressBytes(addr: string): Buffer {
  return Buffer.from(ipaddr.parse(addr).toByteArray())
}

/** Text of raw address bytes from netlink (4 or 16 bytes). */
export function bytesToAddress(bytes: Uint8Array): string {
  return ipaddr.fromByteArray(Array.from(bytes)).toString()
}

/** True when the two prefixes share any address. */
export function prefixesOverlap(a: string, b: string): boolean {
  const fa = plainIpv4Cidr(a)
  const fb = plainIpv4Cidr(b)
  if (fa && fb) {
    const m = maskOf(Math.min(fa.len, fb.len))
    return (fa.v4 & m) >>> 0 === (fb.v4 & m) >>> 0
  }
  const [addrA, lenA] = ipaddr.parseCIDR(a)
  const [addrB, lenB] = ipaddr.parseCIDR(b)
  if (addrA.kind() !== addrB.kind()) return false
  const shorter = Math.min(lenA, lenB)
  return addrA.match(addrB, shorter)
}

function networkOf(addr: ipaddr.IPv4 | ipaddr.IPv6, len: number): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = addr.toByteArray()
  for (let bit = len; bit < bytes.length * 8; bit++) {
    const i = bit >> 3
    bytes[i] = (bytes[i] ?? 0) & ~(0x80 >> (bit & 7))
  }
  return ipaddr.fromByteArray(bytes)
}

/**
 * IP addresses and CIDRs as the PKI needs them (SANs, name constraints). Pure; built on ipaddr.js.
 * Input is strict: dotted-quad IPv4 or RFC 4291 IPv6 text, no zone IDs, CIDRs with zero host bits.
 */
import ipaddr from 'ipaddr.js'
import { LatchError } from '../daemon/base/errors.js'

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6

export interface Cidr {
  readonly address: IpAddress
  readonly prefix: number
  /** Canonical text, e.g. "10.100.1.0/24", "fd00:1::/64". */
  readonly text: string
}

function badIp(input: string, why: string): LatchError {
  return new LatchError('LATCH_ERR_NET_BAD_IP', `"${input}" is not an IP address: ${why}`, {
    details: { input },
  })
}

function badCidr(input: string, why: string): LatchError {
  return new LatchError('LATCH_ERR_NET_BAD_CIDR', `"${input}" is not a usable CIDR: ${why}`, {
    details: { input },
  })
}

/** Parse one address; IPv4-mapped IPv6 stays IPv6 (that is how it appears in a certificate). */
export function parseIp(input: string): IpAddress {
  if (typeof input !== 'string' || input.length === 0) throw badIp(String(input), 'it is empty')
  if (input.includes('%')) throw badIp(input, 'zone IDs ("%") are not allowed')
  if (input.includes(':')) {
    if (!ipaddr.IPv6.isValid(input)) throw badIp(input, 'it is not valid IPv6 text')
    return ipaddr.IPv6.parse(input)
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(input)) {
    throw badIp(input, 'IPv4 addresses are four decimal numbers 0-255 separated by "."')
  }
  return ipaddr.IPv4.parse(input)
}

/** Canonical text of an address ("10.0.0.1", "fd00::1"). */
export function ipText(ip: IpAddress): string {
  return ip.toString()
}

export function parseCidr(input: string): Cidr {
  if (typeof input !== 'string' || !input.includes('/')) {
    throw badCidr(String(input), 'a CIDR is ADDRESS/PREFIX, e.g. 10.100.1.0/24')
  }
  const slash = input.lastIndexOf('/')
  const addressText = input.slice(0, slash)
  const prefixText = input.slice(slash + 1)
  let address: IpAddress
  try {
    address = parseIp(addressText)
  } catch {
    throw badCidr(input, `"${addressText}" is not an IP address`)
  }
  const bits = address.kind() === 'ipv4' ? 32 : 128
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw badCidr(input, `the prefix length must be a number from 0 to ${bits}`)
  }
  const prefix = Number(prefixText)
  const network = networkOf(address, prefix)
  if (network.toString() !== address.toString()) {
    throw badCidr(input, `host bits are set; the network is ${network.toString()}/${prefix}`)
  }
  return Object.freeze({ address, prefix, text: `${address.toString()}/${prefix}` })
}

function networkOf(address: IpAddress, prefix: number): IpAddress {
  const bytes = address.toByteArray()
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8))
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff)
  }
  return ipaddr.fromByteArray(bytes)
}

/** Whether `ip` lies inside `cidr` (same address family only). */
export function ipInCidr(ip: IpAddress, cidr: Cidr): boolean {
  if (ip.kind() !== cidr.address.kind()) return false
  return ip.match(cidr.address, cidr.prefix)
}

/** Whether CIDR `inner` lies entirely inside CIDR `outer`. */
export function cidrInCidr(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && ipInCidr(inner.address, outer)
}

/**
 * The entries of `cidrs` that are NOT inside any of `permitted` (both lists of CIDR text or single
 * addresses, which count as /32 or /128). An empty result means every entry is covered.
 * Throws LATCH_ERR_NET_BAD_CIDR / LATCH_ERR_NET_BAD_IP for unparsable input.
 */
export function cidrsWithin(cidrs: readonly string[], permitted: readonly string[]): string[] {
  const outer = permitted.map(parseCidrOrIp)
  return cidrs.filter((text) => {
    const inner = parseCidrOrIp(text)
    return !outer.some((o) => cidrInCidr(inner, o))
  })
}

/** A CIDR, or a single address taken as a host route. */
export function parseCidrOrIp(text: string): Cidr {
  if (text.includes('/')) return parseCidr(text)
  const address = parseIp(text)
  const prefix = address.kind() === 'ipv4' ? 32 : 128
  return Object.freeze({ address, prefix, text: `${address.toString()}/${prefix}` })
}

/** Parse, canonicalise and de-duplicate a list of addresses, keeping the given order. */
export function uniqueIps(inputs: readonly string[]): string[] {
  return [...new Set(inputs.map((s) => ipText(parseIp(s))))]
}

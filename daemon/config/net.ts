/**
 * zod types for the network values in config and peer files, validated with ipaddr.js.
 * Each refinement says what was expected so the error names the key and the rule.
 */
import ipaddr from 'ipaddr.js'
import { z } from 'zod'

export const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/

/** A node name: 1-63 lowercase letters, digits and "-", starting with a letter or digit. */
export const nodeName = z
  .string()
  .regex(NODE_NAME, 'a node name is 1-63 lowercase letters, digits and "-", starting with a letter or digit')

/** An IPv4 or IPv6 address in its usual notation (no prefix). */
export const ipAddress = z.string().refine(isIpAddress, {
  message: 'expected an IPv4 or IPv6 address such as 10.0.1.5 or fd00::5',
})

/** A network prefix whose host bits are zero, e.g. 10.100.1.0/24. */
export const networkCidr = z.string().refine(isNetworkCidr, {
  message: 'expected a CIDR whose host bits are zero, such as 10.100.1.0/24',
})

/** An interface address with its prefix length, e.g. 10.101.0.1/32 (host bits allowed). */
export const interfaceCidr = z.string().refine(isInterfaceCidr, {
  message: 'expected an address with a prefix length, such as 10.101.0.1/32',
})

export const port = z.number().int().min(1, 'a port is 1-65535').max(65535, 'a port is 1-65535')

/** Strict: dotted-quad IPv4 (not "10.1") or IPv6 without a zone. */
export function isIpAddress(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s) || (ipaddr.IPv6.isValid(s) && !s.includes('%'))
}

export function isInterfaceCidr(s: string): boolean {
  const slash = s.indexOf('/')
  if (slash === -1 || !isIpAddress(s.slice(0, slash)) || !/^\d{1,3}$/.test(s.slice(slash + 1))) return false
  try {
    ipaddr.parseCIDR(s)
    return true
  } catch {
    return false
  }
}

export function isNetworkCidr(s: string): boolean {
  if (!isInterfaceCidr(s)) return false
  try {
    const [addr, len] = ipaddr.parseCIDR(s)
    const network = ipaddr.IPv4.isValid(addr.toString())
      ? ipaddr.IPv4.networkAddressFromCIDR(s)
      : ipaddr.IPv6.networkAddressFromCIDR(s)
    return network.toString() === addr.toString() && len >= 0
  } catch {
    return false
  }
}

/** Whether `ip` lies inside any of the network CIDRs. */
export function ipInCidrs(ip: string, cidrs: readonly string[]): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6
  try {
    addr = ipaddr.parse(ip)
  } catch {
    return false
  }
  return cidrs.some((c) => {
    try {
      const range = ipaddr.parseCIDR(c)
      return addr.kind() === range[0].kind() && addr.match(range)
    } catch {
      return false
    }
  })
}

/** Whether two addresses are the same (`a` may carry a host prefix: 10.0.0.1/32; IPv4-mapped IPv6 = IPv4). */
export function sameIp(a: string, b: string): boolean {
  const parse = (s: string): string | undefined => {
    try {
      const x = ipaddr.process(s.replace(/\/(32|128)$/, ''))
      return x.toNormalizedString()
    } catch {
      return undefined
    }
  }
  const x = parse(a)
  return x !== undefined && x === parse(b)
}

/** `ip:port`, with brackets for IPv6 (`[fd00::1]:51820`). */
export function formatEndpoint(ip: string, portNumber: number): string {
  return ip.includes(':') ? `[${ip}]:${portNumber}` : `${ip}:${portNumber}`
}

/** The address and port of an `ip:port` / `[v6]:port` endpoint, or undefined. */
export function parseEndpoint(s: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s)
  if (!m) return undefined
  const ip = (m[1] ?? m[2])!
  const p = Number(m[3])
  if (!isIpAddress(ip) || p < 1 || p > 65535) return undefined
  return { ip, port: p }
}

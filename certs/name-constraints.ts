/**
 * X.509 name constraints (RFC 5280 §4.2.1.10) as latch uses them: a node's intermediate CA may only
 * certify IPs inside the node's workload CIDRs and URIs in the trust domain. This file encodes the
 * extension, reads it back, and checks a certificate's names against it (the same rules OpenSSL applies,
 * so our verify() and a TLS handshake agree). Pure.
 */
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  GeneralName as AsnGeneralName,
  GeneralSubtree,
  GeneralSubtrees,
  id_ce_nameConstraints,
  NameConstraints,
} from '@peculiar/asn1-x509'
import { LatchError } from '../daemon/base/errors.js'
import { type Cidr, ipInCidr, parseCidr, parseIp } from './net.js'
import { x509 } from './x509.js'

/** The parts of a name-constraints extension latch evaluates; anything else is listed in `other`. */
export interface ParsedNameConstraints {
  readonly permittedCidrs: string[]
  readonly permittedUris: string[]
  readonly permittedDns: string[]
  readonly excludedCidrs: string[]
  readonly excludedUris: string[]
  readonly excludedDns: string[]
  /** Constraint types latch does not evaluate (e.g. "directoryName"); a name of such a type fails closed. */
  readonly other: string[]
}

/** The critical extension for a node intermediate: permitted IP subtrees + permitted URI hosts. */
export function nameConstraintsExtension(
  cidrs: readonly string[],
  uriHosts: readonly string[],
): x509.Extension {
  const subtrees = [
    ...cidrs.map((c) => new AsnGeneralName({ iPAddress: parseCidr(c).text })),
    ...uriHosts.map((h) => new AsnGeneralName({ uniformResourceIdentifier: h })),
  ].map((base) => new GeneralSubtree({ base }))
  const value = new NameConstraints({ permittedSubtrees: new GeneralSubtrees(subtrees) })
  return new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(value))
}

function collect(subtrees: GeneralSubtrees | undefined, other: string[]) {
  const cidrs: string[] = []
  const uris: string[] = []
  const dns: string[] = []
  for (const { base } of subtrees ?? []) {
    if (base.iPAddress !== undefined) cidrs.push(base.iPAddress)
    else if (base.uniformResourceIdentifier !== undefined) uris.push(base.uniformResourceIdentifier)
    else if (base.dNSName !== undefined) dns.push(base.dNSName)
    else other.push(Object.entries(base).find(([, v]) => v !== undefined)?.[0] ?? 'unknown')
  }
  return { cidrs, uris, dns }
}

/** The name constraints of a CA certificate, or undefined when it has none. */
export function parseNameConstraints(cert: x509.X509Certificate): ParsedNameConstraints | undefined {
  const ext = cert.getExtension(id_ce_nameConstraints)
  if (ext === null) return undefined
  const nc = AsnConvert.parse(ext.value, NameConstraints)
  const other: string[] = []
  const permitted = collect(nc.permittedSubtrees, other)
  const excluded = collect(nc.excludedSubtrees, other)
  return {
    permittedCidrs: permitted.cidrs,
    permittedUris: permitted.uris,
    permittedDns: permitted.dns,
    excludedCidrs: excluded.cidrs,
    excludedUris: excluded.uris,
    excludedDns: excluded.dns,
    other,
  }
}

/**
 * The permitted IP ranges and URI hosts of a node intermediate (PEM or parsed certificate). A CA without
 * name constraints permits nothing here: latch treats an unconstrained intermediate as speaking for no
 * workload. Throws LATCH_ERR_PKI_CERT_UNREADABLE for input that is not a certificate.
 */
export function readNameConstraints(intermediate: string | x509.X509Certificate): {
  permittedCidrs: string[]
  permittedUris: string[]
} {
  let cert: x509.X509Certificate
  try {
    cert = typeof intermediate === 'string' ? new x509.X509Certificate(intermediate) : intermediate
  } catch (cause) {
    throw new LatchError('LATCH_ERR_PKI_CERT_UNREADABLE', 'the intermediate is not a PEM certificate', {
      cause,
    })
  }
  const nc = parseNameConstraints(cert)
  return { permittedCidrs: [...(nc?.permittedCidrs ?? [])], permittedUris: [...(nc?.permittedUris ?? [])] }
}

/** A CIDR from a certificate: host bits are masked off, as OpenSSL does, instead of being refused. */
function certCidr(text: string): Cidr {
  const slash = text.lastIndexOf('/')
  const address = parseIp(slash === -1 ? text : text.slice(0, slash))
  const prefix = slash === -1 ? (address.kind() === 'ipv4' ? 32 : 128) : Number(text.slice(slash + 1))
  return { address, prefix, text }
}

/** The host of a URI ("spiffe://td/x" → "td"), or undefined if it has no authority. */
export function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri)
  if (m === null) return undefined
  const authority = (m[1] ?? '').replace(/^.*@/, '')
  const host = authority.startsWith('[')
    ? authority.slice(0, authority.indexOf(']') + 1)
    : authority.replace(/:\d*$/, '')
  return host === '' ? undefined : host.toLowerCase()
}

/** RFC 5280 URI constraint: ".example.org" = any subdomain; "example.org" = that host exactly. */
function uriHostMatches(host: string, constraint: string): boolean {
  const c = constraint.toLowerCase()
  return c.startsWith('.') ? host.endsWith(c) : host === c
}

/** RFC 5280 DNS constraint: the name itself or any name below it (label boundary). */
function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase()
  const c = constraint.toLowerCase().replace(/^\./, '')
  return c === '' || n === c || n.endsWith(`.${c}`)
}

export interface CertNames {
  readonly ips: readonly string[]
  readonly uris: readonly string[]
  readonly dns: readonly string[]
  /** Names of types latch does not evaluate (email, directoryName SANs, …). */
  readonly other: readonly string[]
}

/** Why `names` violate `nc`, or undefined when they satisfy it. */
export function nameConstraintViolation(names: CertNames, nc: ParsedNameConstraints): string | undefined {
  for (const ip of names.ips) {
    const addr = parseIp(ip)
    if (nc.permittedCidrs.length > 0 && !nc.permittedCidrs.some((c) => ipInCidr(addr, certCidr(c)))) {
      return `IP ${ip} is outside the permitted ranges ${nc.permittedCidrs.join(', ')}`
    }
    const hit = nc.excludedCidrs.find((c) => ipInCidr(addr, certCidr(c)))
    if (hit !== undefined) return `IP ${ip} is inside the excluded range ${hit}`
  }
  for (const uri of names.uris) {
    const host = uriHost(uri)
    const constrained = nc.permittedUris.length > 0 || nc.excludedUris.length > 0
    if (constrained && host === undefined) return `URI ${uri} has no host to check against the constraints`
    if (host === undefined) continue
    if (nc.permittedUris.length > 0 && !nc.permittedUris.some((c) => uriHostMatches(host, c))) {
      return `URI ${uri} is outside the permitted hosts ${nc.permittedUris.join(', ')}`
    }
    if (nc.excludedUris.some((c) => uriHostMatches(host, c))) return `URI ${uri} is in an excluded host`
  }
  for (const name of names.dns) {
    if (nc.permittedDns.length > 0 && !nc.permittedDns.some((c) => dnsMatches(name, c))) {
      return `DNS name ${name} is outside the permitted domains ${nc.permittedDns.join(', ')}`
    }
    if (nc.excludedDns.some((c) => dnsMatches(name, c))) return `DNS name ${name} is in an excluded domain`
  }
  if (nc.other.length > 0 && names.other.length > 0) {
    return `the CA constrains ${nc.other.join(', ')} names, which latch does not evaluate; refusing`
  }
  return undefined
}

import ipaddr from 'ipaddr.js'
import { LatchError } from '../base/errors.js'
import {
  canonicalEndpoint,
  canonicalPrefix,
  dottedIpv4,
  plainIpv4,
  plainIpv4Cidr,
} from '../transport/addr.js'
import { isWireguardKey } from '../transport/wg-key.js'
import type { WgPeerConfig } from '../transport/wg-plan.js'
import type { PeerSession } from './types.js'

/** WireGuard keepalive for every peer: keeps NAT/conntrack state and notices dead peers. */
export const PERSISTENT_KEEPALIVE_SECONDS = 25

/**
 * A handshake's PeerSession → the WireGuard peer latch programs: allowed IPs = the peer's workload
 * CIDRs + its tunnel address as a host prefix; routes follow the allowed IPs. Throws
 * LATCH_ERR_ENGINE_BAD_PEER naming the field when anything is malformed.
 */
export function peerConfigOf(s: PeerSession): WgPeerConfig {
  if (typeof s.name !== 'string' || s.name.length === 0) bad(s, 'name', 'is empty')
  if (!isWireguardKey(s.wgPublicKey)) bad(s, 'wgPublicKey', 'is not base64 of 32 bytes')
  if (!isWireguardKey(s.presharedKey)) bad(s, 'presharedKey', 'is not base64 of 32 bytes')
  const endpoint = canonicalEndpoint(s.endpoint)
  if (endpoint === undefined) bad(s, 'endpoint', `"${s.endpoint}" is not ip:port`)
  const allowed = new Set<string>([hostPrefixOf(s)])
  for (const cidr of s.workloadCidrs) {
    const p = canonicalPrefix(cidr)
    if (p === undefined || p !== canonicalTextOf(cidr.trim())) {
      bad(s, 'workloadCidrs', `"${cidr}" is not a CIDR with zero host bits`)
    }
    allowed.add(p)
  }
  return {
    name: s.name,
    publicKey: s.wgPublicKey,
    presharedKey: s.presharedKey,
    endpoint,
    allowedIps: [...allowed].sort(),
    persistentKeepalive: PERSISTENT_KEEPALIVE_SECONDS,
  }
}

/** `10.101.0.2/32` (or `10.101.0.2/24`) → `10.101.0.2/32`: the peer's own tunnel address only. */
function hostPrefixOf(s: PeerSession): string {
  const t = s.tunnelAddress.trim()
  const slash = t.indexOf('/')
  const v4 = slash < 0 ? plainIpv4(t) : (plainIpv4Cidr(t)?.v4 ?? -1)
  if (v4 >= 0) return `${dottedIpv4(v4)}/32`
  try {
    const [addr] = ipaddr.parseCIDR(s.tunnelAddress.trim())
    return `${addr.toString()}/${addr.kind() === 'ipv6' ? 128 : 32}`
  } catch {
    try {
      const addr = ipaddr.parse(s.tunnelAddress.trim())
      return `${addr.toString()}/${addr.kind() === 'ipv6' ? 128 : 32}`
    } catch {
      return bad(s, 'tunnelAddress', `"${s.tunnelAddress}" is not an address or CIDR`)
    }
  }
}

/** The input written canonically but with its host bits as given, to detect non-zero host bits. */
function canonicalTextOf(cidr: string): string {
  if (plainIpv4Cidr(cidr)) return cidr
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr)
    return `${addr.toString()}/${len}`
  } catch {
    return cidr
  }
}

function bad(s: PeerSession, field: string, what: string): never {
  throw new LatchError('LATCH_ERR_ENGINE_BAD_PEER', `peer ${JSON.stringify(s.name)}: ${field} ${what}`, {
    details: { peer: s.name, field },
  })
}

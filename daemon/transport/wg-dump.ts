import { LatchError } from '../base/errors.js'
import { canonicalPrefix } from './addr.js'

/**
 * `wg show <if> dump` parsed. The dump holds the private key and preshared keys in clear text:
 * values of these types stay inside the transport and are never logged or returned to callers
 * (the engine's status() maps them to `hasPresharedKey`).
 *
 * Format (tab separated): first line `private-key public-key listen-port fwmark`, then one line
 * per peer `public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive`,
 * where absent values are `(none)`, `off` or `0`.
 */
export interface WgDeviceState {
  privateKey?: string
  publicKey?: string
  listenPort: number
  peers: Map<string, WgPeerState>
}

export interface WgPeerState {
  publicKey: string
  presharedKey?: string
  endpoint?: string
  /** Canonical prefixes, sorted. */
  allowedIps: string[]
  /** Unix seconds of the latest handshake; 0 = never. */
  latestHandshake: number
  rxBytes: number
  txBytes: number
  /** Seconds; 0 = off. */
  persistentKeepalive: number
}

const none = (v: string | undefined): string | undefined =>
  v === undefined || v === '(none)' || v === '' ? undefined : v

export function parseWgDump(text: string, iface: string): WgDeviceState {
  const lines = text.split('\n').filter((l) => l.length > 0)
  const head = lines[0]?.split('\t')
  if (head === undefined || head.length !== 4) throw malformed(iface, 'missing interface line')
  const device: WgDeviceState = {
    ...optional('privateKey', none(head[0])),
    ...optional('publicKey', none(head[1])),
    listenPort: Number(head[2]) || 0,
    peers: new Map(),
  }
  for (const line of lines.slice(1)) {
    const f = line.split('\t')
    if (f.length !== 8 || f[0] === undefined) throw malformed(iface, `peer line with ${f.length} fields`)
    const allowed = none(f[3])
    device.peers.set(f[0], {
      publicKey: f[0],
      ...optional('presharedKey', none(f[1])),
      ...optional('endpoint', none(f[2])),
      allowedIps:
        allowed === undefined
          ? []
          : allowed
              .split(',')
              .map((c) => canonicalPrefix(c) ?? c)
              .sort(),
      latestHandshake: Number(f[4]) || 0,
      rxBytes: Number(f[5]) || 0,
      txBytes: Number(f[6]) || 0,
      persistentKeepalive: f[7] === 'off' ? 0 : Number(f[7]) || 0,
    })
  }
  return device
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string }
}

function malformed(iface: string, what: string): LatchError {
  // never include the text: it holds keys
  return new LatchError(
    'LATCH_ERR_WG_COMMAND_FAILED',
    `unexpected output of \`wg show ${iface} dump\`: ${what}`,
    {
      details: { interface: iface },
    },
  )
}

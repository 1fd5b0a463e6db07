import { constants } from 'node:os'
import { LatchError } from '../base/errors.js'
import { canonicalPrefix } from './addr.js'
import type { WgDeviceState, WgPeerState } from './wg-dump.js'
import { publicKeyOf } from './wg-key.js'
import type { WgDesired, WgPlan } from './wg-plan.js'

/**
 * The pure half of talking to wireguard-go directly: its cross-platform UAPI
 * (https://www.wireguard.com/xplatform/), the text protocol `wg` itself speaks on
 * /var/run/wireguard/<if>.sock. `get=1` answers `key=value` lines (keys in hex) ending `errno=N`;
 * `set=1` takes the same lines and answers `errno=N`. A request and an answer end with an empty line.
 *
 * Talking UAPI instead of running `wg` saves, per reconcile, a process, its argv parsing and a 0600
 * tmpfs file per preshared key (written, read by `wg`, removed): secrets go straight from latchd's
 * memory onto a root-only UNIX socket. The kernel backend has no socket and keeps using `wg`.
 */

const ZERO_KEY_HEX = '0'.repeat(64)

const hexOf = (base64: string): string => Buffer.from(base64, 'base64').toString('hex')
const base64Of = (hex: string): string => Buffer.from(hex, 'hex').toString('base64')

/** The `set=1` request that applies `plan` (same order as wg-set.ts: device, removals, changes). */
export function encodeUapiSet(plan: WgPlan, desired: WgDesired): string {
  const lines = ['set=1']
  if (plan.setPrivateKey) lines.push(`private_key=${hexOf(desired.privateKey)}`)
  if (plan.setListenPort) lines.push(`listen_port=${desired.listenPort}`)
  // removals first: a prefix moving to another peer is then free
  for (const key of plan.remove) lines.push(`public_key=${hexOf(key)}`, 'remove=true')
  for (const { peer, fields } of plan.changes) {
    lines.push(`public_key=${hexOf(peer.publicKey)}`)
    if (fields.includes('presharedKey')) lines.push(`preshared_key=${hexOf(peer.presharedKey)}`)
    if (fields.includes('endpoint')) lines.push(`endpoint=${peer.endpoint}`)
    if (fields.includes('persistentKeepalive'))
      lines.push(`persistent_keepalive_interval=${peer.persistentKeepalive}`)
    if (fields.includes('allowedIps')) {
      lines.push('replace_allowed_ips=true')
      for (const ip of peer.allowedIps) lines.push(`allowed_ip=${ip}`)
    }
  }
  return `${lines.join('\n')}\n\n`
}

export const UAPI_GET = 'get=1\n\n'

/** The UAPI's numeric per-peer keys and the WgPeerState field each fills (absent or bad: 0). */
const NUMERIC_PEER_FIELDS: Record<
  string,
  'latestHandshake' | 'rxBytes' | 'txBytes' | 'persistentKeepalive' | undefined
> = {
  last_handshake_time_sec: 'latestHandshake',
  rx_bytes: 'rxBytes',
  tx_bytes: 'txBytes',
  persistent_keepalive_interval: 'persistentKeepalive',
}

/** `-22 (EINVAL)`: wireguard-go answers a negated errno. */
export function describeErrno(errno: number): string {
  const name = Object.entries(constants.errno).find(([, n]) => n === Math.abs(errno))?.[0]
  return name === undefined ? `errno ${errno}` : `errno ${errno} (${name})`
}

/** The errno of a complete answer (the last `errno=` line), or undefined when it has none. */
export function uapiErrno(answer: string): number | undefined {
  const at = answer.lastIndexOf('errno=')
  if (at < 0 || (at > 0 && answer[at - 1] !== '\n')) return undefined
  const end = answer.indexOf('\n', at)
  const n = Number(answer.slice(at + 6, end < 0 ? undefined : end))
  return Number.isInteger(n) ? n : undefined
}

/** A `get=1` answer as the same state `wg show dump` gives (keys base64, prefixes canonical, sorted). */
export function parseUapiGet(answer: string, iface: string): WgDeviceState {
  const device: WgDeviceState = { listenPort: 0, peers: new Map() }
  let peer: WgPeerState | undefined
  let errno: number | undefined
  for (const line of answer.split('\n')) {
    if (line === '') continue
    const eq = line.indexOf('=')
    if (eq <= 0) throw malformed(iface, 'a line without key=value')
    const key = line.slice(0, eq)
    const value = line.slice(eq + 1)
    if (key === 'public_key') {
      if (peer !== undefined) finishPeer(peer)
      peer = {
        publicKey: base64Of(value),
        allowedIps: [],
        latestHandshake: 0,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
      }
      device.peers.set(peer.publicKey, peer)
      continue
    }
    if (peer === undefined) {
      if (key === 'private_key') {
        if (value !== ZERO_KEY_HEX) {
          device.privateKey = base64Of(value)
          // `wg show dump` prints it; the UAPI leaves it to the client, as wg(8) does
          device.publicKey = publicKeyOf(device.privateKey)
        }
      } else if (key === 'listen_port') device.listenPort = Number(value) || 0
      else if (key === 'errno') errno = Number(value)
      // fwmark and anything newer: not part of the state latch plans with
      continue
    }
    switch (key) {
      case 'preshared_key':
        if (value !== ZERO_KEY_HEX) peer.presharedKey = base64Of(value)
        break
      case 'endpoint':
        peer.endpoint = value
        break
      case 'allowed_ip':
        peer.allowedIps.push(canonicalPrefix(value) ?? value)
        break
      case 'errno':
        errno = Number(value)
        break
      default: {
        const field = NUMERIC_PEER_FIELDS[key]
        if (field !== undefined) peer[field] = Number(value) || 0
      }
    }
  }
  if (peer !== undefined) finishPeer(peer)
  if (errno === undefined) throw malformed(iface, 'no errno line')
  if (errno !== 0) {
    throw new LatchError(
      'LATCH_ERR_WG_COMMAND_FAILED',
      `wireguard-go's UAPI get on ${iface} failed: ${describeErrno(errno)}`,
      {
        details: { interface: iface, errno },
      },
    )
  }
  return device
}

function finishPeer(peer: WgPeerState): void {
  peer.allowedIps.sort()
}

function malformed(iface: string, what: string): LatchError {
  // never include the text: it holds keys
  return new LatchError(
    'LATCH_ERR_WG_COMMAND_FAILED',
    `unexpected UAPI answer from ${iface}'s wireguard-go: ${what}`,
    {
      details: { interface: iface },
    },
  )
}

import type { WgDeviceState, WgPeerState } from './wg-dump.js'

/**
 * The pure half of a WireGuard reconcile: desired peers + what `wg show dump` reported → the
 * smallest set of changes. No I/O here; `wg-set.ts` turns a plan into one `wg set` process.
 */

/** One peer as latch wants it. Prefixes canonical and sorted, endpoint canonical (see addr.ts). */
export interface WgPeerConfig {
  /** For action text and status only. */
  name?: string
  publicKey: string
  presharedKey: string
  endpoint: string
  allowedIps: string[]
  persistentKeepalive: number
}

export interface WgDesired {
  privateKey: string
  listenPort: number
  peers: Map<string, WgPeerConfig>
  /**
   * Public keys of peers found on the interface that must be left exactly as they are (peers
   * adopted after a daemon restart whose handshake has not been redone yet).
   */
  keep: ReadonlySet<string>
}

export type PeerField = 'presharedKey' | 'endpoint' | 'allowedIps' | 'persistentKeepalive'

export interface PeerChange {
  peer: WgPeerConfig
  /** true: the peer is not on the interface yet (every field is set). */
  isNew: boolean
  /** The fields that differ (all four when new). */
  fields: PeerField[]
}

export interface WgPlan {
  setPrivateKey: boolean
  setListenPort: boolean
  /** Public keys to remove. */
  remove: string[]
  changes: PeerChange[]
}

const ALL_FIELDS: PeerField[] = ['presharedKey', 'endpoint', 'allowedIps', 'persistentKeepalive']

export function planWireguard(desired: WgDesired, actual: WgDeviceState): WgPlan {
  const remove: string[] = []
  for (const key of actual.peers.keys()) {
    if (!desired.peers.has(key) && !desired.keep.has(key)) remove.push(key)
  }
  const changes: PeerChange[] = []
  for (const peer of desired.peers.values()) {
    const have = actual.peers.get(peer.publicKey)
    if (have === undefined) {
      changes.push({ peer, isNew: true, fields: ALL_FIELDS })
      continue
    }
    const fields = differingFields(peer, have)
    if (fields.length > 0) changes.push({ peer, isNew: false, fields })
  }
  return {
    setPrivateKey: actual.privateKey !== desired.privateKey,
    setListenPort: actual.listenPort !== desired.listenPort,
    remove: remove.sort(),
    changes: changes.sort((a, b) => a.peer.publicKey.localeCompare(b.peer.publicKey)),
  }
}

export function planIsEmpty(plan: WgPlan): boolean {
  return !plan.setPrivateKey && !plan.setListenPort && plan.remove.length === 0 && plan.changes.length === 0
}

/** Human-readable actions (no key material: peers by name, else a key prefix). */
export function describeWireguardPlan(
  plan: WgPlan,
  desired: WgDesired,
  names: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = []
  if (plan.setPrivateKey) out.push('wg set private-key')
  if (plan.setListenPort) out.push(`wg set listen-port ${desired.listenPort}`)
  for (const key of plan.remove) out.push(`wg peer remove ${names.get(key) ?? shortKey(key)}`)
  for (const c of plan.changes) {
    const who = c.peer.name ?? shortKey(c.peer.publicKey)
    out.push(c.isNew ? `wg peer add ${who}` : `wg peer update ${who} (${c.fields.map(fieldName).join(', ')})`)
  }
  return out
}

export function shortKey(key: string): string {
  return `${key.slice(0, 8)}…`
}

function differingFields(want: WgPeerConfig, have: WgPeerState): PeerField[] {
  const out: PeerField[] = []
  if (have.presharedKey !== want.presharedKey) out.push('presharedKey')
  if (have.endpoint !== want.endpoint) out.push('endpoint')
  if (have.allowedIps.join(',') !== want.allowedIps.join(',')) out.push('allowedIps')
  if (have.persistentKeepalive !== want.persistentKeepalive) out.push('persistentKeepalive')
  return out
}

function fieldName(f: PeerField): string {
  switch (f) {
    case 'presharedKey':
      return 'preshared-key'
    case 'endpoint':
      return 'endpoint'
    case 'allowedIps':
      return 'allowed-ips'
    case 'persistentKeepalive':
      return 'persistent-keepalive'
  }
}

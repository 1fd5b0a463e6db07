/** The human form of `latchctl status`: a header, a peer table, refusals spelled out, workloads. Pure. */

import type { StatusPeer, StatusReport } from '../wire/status.js'
import { formatDatapath } from './format-datapath.js'
import { formatDiscovery } from './format-discovery.js'
import { formatPairAuth } from './format-pairauth.js'
import { formatTrust } from './format-trust.js'
import { table } from './text-table.js'

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`
}

function age(seconds: number | undefined): string {
  if (seconds === undefined) return '-'
  if (seconds < 120) return `${seconds}s`
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`
  return `${Math.round(seconds / 3600)}h`
}

function stateText(p: StatusPeer): string {
  const tunnel = p.tunnel === 'grace' ? ' (tunnel kept: grace)' : ''
  return `${p.state}${tunnel}`
}

/** `wireguard (kernel) latch0 10.101.0.1/32 :51820` or `ipsec (esp) latchx0 if_id 0x4c41 10.101.0.1/32`. */
function transportText(s: StatusReport): string {
  const t = s.transport
  if (t.kind === 'ipsec') {
    const ifId = t.ifId === undefined ? '' : ` if_id 0x${t.ifId.toString(16)}`
    return `ipsec (esp) ${t.interface}${ifId} ${s.wireguard.address}`
  }
  const backend = t.backend === 'userspace' ? ' (wireguard-go)' : t.backend === 'kernel' ? ' (kernel)' : ''
  return `wireguard${backend} ${t.interface} ${s.wireguard.address} :${s.wireguard.listenPort}`
}

export function formatStatus(s: StatusReport): string {
  const out: string[] = []
  out.push(`node ${s.node}  ${s.spiffeId}`)
  out.push(`  listen ${s.listen}  ${transportText(s)}  key ${s.wireguard.publicKey}`)
  out.push(
    `  up ${age(s.uptimeSeconds)}${s.ready === false ? ' (starting)' : ''}  pid ${s.pid}  rekey every ${s.rekeyIntervalSeconds}s  grace ${s.gracePeriodSeconds}s`,
  )
  if (s.wireguard.error) out.push(`  ${s.transport.kind} status unavailable: ${s.wireguard.error}`)
  if (s.discovery) out.push(...formatDiscovery(s.discovery))
  out.push('')
  if (s.peers.length === 0) {
    out.push(
      s.discovery?.backend === 'etcd'
        ? 'no peers (no other node is registered in etcd)'
        : 'no peers (the peers file lists none)',
    )
  } else {
    const rows = [
      [
        'PEER',
        'STATE',
        'ROLE',
        'ENDPOINT',
        'LAST HANDSHAKE',
        'PSK AGE',
        'ROTATIONS',
        'RX',
        'TX',
        s.transport.kind === 'ipsec' ? 'ESP KEYS' : 'WG PSK',
      ],
    ]
    for (const p of s.peers) {
      rows.push([
        p.name,
        stateText(p),
        p.role,
        p.endpoint ?? `${p.address}:${p.port}`,
        p.lastHandshakeAt ?? '-',
        age(p.pskAgeSeconds),
        String(p.rotations),
        p.wireguard ? bytes(p.wireguard.rxBytes) : '-',
        p.wireguard ? bytes(p.wireguard.txBytes) : '-',
        p.wireguard ? (p.wireguard.hasPresharedKey ? 'yes' : 'no') : '-',
      ])
    }
    out.push(table(rows))
    for (const p of s.peers) {
      if (p.refusal) {
        const who = p.refusal.by === 'peer' ? `${p.name} refused this node` : `this node refused ${p.name}`
        const claim = p.refusal.unverified ? ' (identity not proven)' : ''
        out.push(`  ${p.name}: ${who}${claim}: ${p.refusal.reason}: ${p.refusal.message} [${p.refusal.at}]`)
      }
      if (p.lastError)
        out.push(`  ${p.name}: ${p.lastError.reason}: ${p.lastError.message} [${p.lastError.at}]`)
      if (p.nextAttemptAt && p.state !== 'established')
        out.push(`  ${p.name}: next attempt ${p.nextAttemptAt}`)
      if (p.graceUntil) out.push(`  ${p.name}: tunnel removed at ${p.graceUntil} unless the peer comes back`)
      if (p.state === 'awaiting' && !p.refusal)
        out.push(`  ${p.name}: waiting for ${p.name} to connect (it dials)`)
    }
  }
  if (s.wireguard.unmanagedPeers.length > 0) {
    out.push(
      '',
      `${s.transport.kind === 'ipsec' ? 'IPsec pairs' : 'WireGuard peers'} not matched to a peer: ${s.wireguard.unmanagedPeers.map((p) => p.publicKey).join(', ')}`,
    )
  }
  out.push('', s.workloads.length === 0 ? 'no local workloads' : 'local workloads:')
  for (const w of s.workloads)
    out.push(`  ${w.id}  ${w.ips.join(', ')}${w.interface ? `  (${w.interface})` : ''}`)
  if (s.trust) out.push('', formatTrust(s.trust))
  out.push('', s.pairAuth ? formatPairAuth(s.pairAuth) : 'pair authentication off (no policyFile)')
  out.push('', s.datapath ? formatDatapath(s.datapath).trimEnd() : 'datapath off (datapath.enabled: false)')
  return `${out.join('\n')}\n`
}

/**
 * `latchctl lab status` as text: one block per node with its workloads and, when its daemon
 * answered, one line per peer (state, tunnel, endpoint, PSK age, WireGuard bytes, refusal reason).
 * Pure. The daemon's report is read defensively: fields it does not carry are left out.
 */
import type { LabStatus } from './status.js'

interface PeerView {
  name?: unknown
  state?: unknown
  tunnel?: unknown
  endpoint?: unknown
  pskAgeSeconds?: unknown
  rotations?: unknown
  refusal?: { reason?: unknown; message?: unknown }
  lastError?: { reason?: unknown; message?: unknown }
  wireguard?: { rxBytes?: unknown; txBytes?: unknown; hasPresharedKey?: unknown }
}

export function formatPeer(p: PeerView): string {
  const parts = [`${String(p.state ?? '?')}`]
  if (p.tunnel !== undefined) parts.push(`tunnel ${String(p.tunnel)}`)
  if (p.endpoint !== undefined) parts.push(`endpoint ${String(p.endpoint)}`)
  if (typeof p.pskAgeSeconds === 'number') parts.push(`PSK age ${p.pskAgeSeconds}s`)
  if (typeof p.rotations === 'number') parts.push(`${p.rotations} rotations`)
  const wg = p.wireguard
  if (wg && typeof wg.rxBytes === 'number' && typeof wg.txBytes === 'number') {
    parts.push(`rx ${wg.rxBytes} B tx ${wg.txBytes} B${wg.hasPresharedKey === false ? ' (NO PSK)' : ''}`)
  }
  const why = p.refusal ?? p.lastError
  if (why)
    parts.push(
      `${p.refusal ? 'refused' : 'last error'}: ${String(why.reason ?? '')} ${String(why.message ?? '')}`.trim(),
    )
  return `peer ${String(p.name ?? '?')}: ${parts.join(', ')}`
}

export function formatLabStatus(s: LabStatus): string {
  if (!s.up) {
    return s.strays.length > 0
      ? `no lab state, but lab namespaces exist: ${s.strays.join(', ')} (run \`latchctl lab down\`)\n`
      : 'no lab is up (`latchctl lab up` builds one)\n'
  }
  const lines = [
    `lab: ${s.size?.nodes} nodes × ${s.size?.workloads} workloads, trust domain ${s.trustDomain}, rekey ${s.rekeyInterval}`,
    `underlay: netns ${s.underlay?.netns}, bridge ${s.underlay?.bridge}${s.underlay?.present ? '' : ' (MISSING)'}`,
  ]
  for (const n of s.nodes) {
    const d = n.latchd.alive
      ? `latchd pid ${n.latchd.pid}${n.latchd.socket ? '' : ' (no control socket)'}`
      : 'latchd NOT RUNNING'
    lines.push(
      `${n.name}: ${n.underlayIp}, tunnel ${n.tunnelAddress}, workloads ${n.workloadCidr}, CNI workloads ${n.cniCidr}, ${d}${n.present ? '' : ' (netns MISSING)'}`,
    )
    for (const w of n.workloads) {
      lines.push(
        `  ${w.name}: ${w.ip} via ${w.interface}, ${w.spiffeId}${w.present ? '' : ' (netns MISSING)'}`,
      )
    }
    const peers = (n.daemon as { peers?: unknown } | undefined)?.peers
    if (Array.isArray(peers)) for (const p of peers as PeerView[]) lines.push(`  ${formatPeer(p)}`)
    if (n.daemonError) lines.push(`  daemon status unavailable: ${n.daemonError}`)
    lines.push(`  log: ${n.log}`)
  }
  if (s.strays.length > 0) lines.push(`strays (not part of this lab's size): ${s.strays.join(', ')}`)
  return `${lines.join('\n')}\n`
}

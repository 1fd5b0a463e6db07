/** The datapath part of the human form of `latchctl status`. Pure. */
import type { DatapathReport } from '../wire/status.js'

/** The text lines status prints for the datapath. */
export function formatDatapath(d: DatapathReport): string {
  const lines = [
    `datapath: ${d.pinDir}, programs ${d.programs.map((p) => `${p.name}#${p.id} (${p.action})`).join(', ')}`,
  ]
  lines.push(
    `  wireguard ifindex ${d.wireguardIfindex ?? 'unknown'}; ${d.identities} identities, ${d.remoteIdentities} remote, ${d.authEntries} auth entries`,
  )
  for (const i of d.interfaces) {
    const state = i.attached ? 'attached' : `NOT attached${i.error ? `: ${i.error}` : ''}`
    lines.push(`  ${i.interface} (ifindex ${i.ifindex ?? '?'}) ${i.workload} id ${i.identity}: ${state}`)
  }
  const moved = d.stats.filter((s) => s.packets > 0)
  lines.push(`  counters: ${moved.length === 0 ? 'all zero' : ''}`)
  for (const s of moved)
    lines.push(`    ${s.verdict.padEnd(5)} ${s.reason.padEnd(22)} ${s.packets} pkts ${s.bytes} bytes`)
  return `${lines.join('\n')}\n`
}

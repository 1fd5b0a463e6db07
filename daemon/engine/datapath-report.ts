/** The datapath part of `latchctl status`, and the pure helpers of datapath.ts. */
import type { IpcacheEntry } from '../datapath/index.js'

export interface InterfaceReport {
  workload: string
  interface: string
  ifindex?: number
  identity: number
  /** our current programs are at our tc slot in both directions */
  attached: boolean
  error?: string
}

export interface DatapathReport {
  pinDir: string
  programs: Array<{ name: string; id: number; action: string }>
  wireguardIfindex?: number
  interfaces: InterfaceReport[]
  /** SPIFFE IDs with an allocated identity id */
  identities: number
  remoteIdentities: number
  authEntries: number
  /** counters summed over CPUs, one row per reason; verdict pass/drop/event */
  stats: Array<{ reason: string; verdict: string; packets: number; bytes: number }>
}

/** A local workload's ipcache entries: one host prefix per address, required ingress = its veth. */
export function workloadIpcache(ips: readonly string[], identity: number, ifindex: number): IpcacheEntry[] {
  return ips.map((ip) => ({ prefix: ip, identity, scope: 'local' as const, ifindex }))
}

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

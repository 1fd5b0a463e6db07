/**
 * The benchmark's tables (pure): the three setups side by side with ratios against plaintext,
 * then latch alone. Every number comes from the result object that is also written as JSON.
 */

import type { FirstConnectRep } from './first-connect.js'
import type { IpcacheRow, PolicyLoadRow, WgBench } from './kernel-programming.js'
import type { SetupResult } from './measure.js'
import { percentile } from './stats.js'

export interface LatchAlone {
  latchdPeakRssMiB: Record<string, number>
  firstConnect: FirstConnectRep[]
  wg: WgBench
  ipcache: IpcacheRow[]
  policies: PolicyLoadRow[]
}

type Cell = number | null | string

interface Line {
  label: string
  /** One per setup, in the order of `results`. */
  values: Cell[]
  /** Decimals shown. */
  digits: number
}

function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows]
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n')
}

const show = (v: Cell, digits: number): string =>
  v === null ? 'n/a' : typeof v === 'string' ? v : v.toFixed(digits)

function ratio(v: Cell, base: Cell): string {
  if (typeof v !== 'number' || typeof base !== 'number' || base === 0) return ''
  return `×${(v / base).toFixed(2)}`
}

/**
 * plaintext, every latch setup of the run, the sidecar: each figure with its ratio to plaintext,
 * and for latch setups also to the sidecar (the issue-17 targets are latch ≥/≤ 1× sidecar).
 */
export function setupsTable(results: SetupResult[]): string {
  const pick = (f: (r: SetupResult) => Cell): Cell[] => results.map((r) => f(r))
  const lines: Line[] = []
  for (const size of results[0]?.tcp.map((t) => t.size) ?? []) {
    const tcp = (r: SetupResult) => r.tcp.find((t) => t.size === size)?.latencyUs
    const label = size === 1024 ? '1 KiB' : `${size} B`
    lines.push({
      label: `TCP req/resp ${label} p50 (µs)`,
      values: pick((r) => tcp(r)?.p50 ?? null),
      digits: 0,
    })
    lines.push({
      label: `TCP req/resp ${label} p99 (µs)`,
      values: pick((r) => tcp(r)?.p99 ?? null),
      digits: 0,
    })
  }
  const udp = (f: (u: NonNullable<SetupResult['udp']>) => number) =>
    pick((r) => (r.udp ? f(r.udp) : r.setup === 'sidecar' ? 'no UDP' : null))
  const udpSize = results.find((r) => r.udp)?.udp?.size ?? 64
  lines.push(
    { label: `UDP req/resp ${udpSize} B p50 (µs)`, values: udp((u) => u.latencyUs.p50), digits: 0 },
    { label: `UDP req/resp ${udpSize} B p99 (µs)`, values: udp((u) => u.latencyUs.p99), digits: 0 },
    { label: 'UDP loss (%)', values: udp((u) => u.lossPct), digits: 2 },
    { label: 'new connections/s (connect+req+close)', values: pick((r) => r.connRate.perSecond), digits: 0 },
    { label: 'bulk TCP, iperf3 (Gbit/s)', values: pick((r) => r.throughput.gbitPerSecond), digits: 2 },
    { label: 'CPU s per GB, setup processes', values: pick((r) => r.throughput.cpuSecondsPerGB), digits: 2 },
    {
      label: 'kernel s per GB, machine sys+irq',
      values: pick((r) => r.throughput.kernelSecondsPerGB),
      digits: 2,
    },
    {
      label: 'latchd peak RSS (MiB, max of nodes)',
      values: pick((r) => {
        if (!r.latch) return '-'
        const rss = Object.values(r.latch.latchdPeakRssMiB)
        return rss.length ? Math.max(...rss) : null
      }),
      digits: 1,
    },
  )
  const plain = results.findIndex((r) => r.setup === 'plaintext')
  const sidecar = results.findIndex((r) => r.setup === 'sidecar')
  const headers = ['node1-w1 → node2-w1']
  for (const r of results) {
    headers.push(r.setup)
    if (r.setup !== 'plaintext') headers.push('vs plain')
    if (r.latch && sidecar >= 0) headers.push('vs sidecar')
  }
  const rows = lines.map((l) => {
    const row = [l.label]
    for (const [i, r] of results.entries()) {
      const v = l.values[i] ?? null
      row.push(show(v, l.digits))
      if (r.setup !== 'plaintext') row.push(plain >= 0 ? ratio(v, l.values[plain] ?? null) : '')
      if (r.latch && sidecar >= 0) row.push(ratio(v, l.values[sidecar] ?? null))
    }
    return row
  })
  return table(headers, rows)
}

const median = (xs: number[]): number | null =>
  xs.length === 0
    ? null
    : percentile(
        [...xs].sort((a, b) => a - b),
        50,
      )

export function latchAloneTable(a: LatchAlone): string {
  const rows: string[][] = []
  const usable = median(a.firstConnect.flatMap((r) => (r.firstUsableMs === null ? [] : [r.firstUsableMs])))
  const single = median(
    a.firstConnect.flatMap((r) => (r.singleConnectMs === null ? [] : [r.singleConnectMs])),
  )
  const n = a.firstConnect.length
  rows.push(
    [
      `newly allowed pair usable after policy edit (median of ${n})`,
      `${show(usable, 0)} ms`,
      'drop-first: ≥1000 ms',
    ],
    [
      `connect() issued at the edit completes after (median of ${n})`,
      `${show(single, 0)} ms`,
      'drop-first: ≥1000 ms',
    ],
  )
  for (const peers of [...new Set(a.wg.rows.map((r) => r.peers))]) {
    const add = (control: string) =>
      a.wg.rows.find((r) => r.peers === peers && r.step === 'add all' && (r.control ?? 'wg') === control)
    const [uapi, tool] = [add('uapi'), add('wg')]
    const perPeer = a.wg.rows.find((r) => r.peers === peers && r.step === 'one wg set per peer')
    if (uapi && tool) {
      rows.push([
        `program ${peers} WireGuard peers (+routes): UAPI socket vs one wg set`,
        `${uapi.ms.toFixed(0)} ms (0 wg)`,
        `${tool.ms.toFixed(0)} ms (${tool.wgProcesses} wg), ×${(tool.ms / uapi.ms).toFixed(1)}`,
      ])
    }
    const batched = uapi ?? tool
    if (batched && perPeer) {
      rows.push([
        `program ${peers} WireGuard peers: batched vs one wg set each`,
        `${batched.ms.toFixed(0)} ms`,
        `${perPeer.ms.toFixed(0)} ms (${perPeer.wgProcesses} wg), ×${(perPeer.ms / batched.ms).toFixed(1)}`,
      ])
    }
  }
  const batch = a.ipcache.find((r) => r.method.startsWith('one batch'))
  const single1 = a.ipcache.find((r) => r.method.startsWith('one by one'))
  const adapter = a.ipcache.find((r) => r.method.startsWith('adapter'))
  if (batch && single1) {
    rows.push([
      `write ${batch.entries} ipcache entries: one batch vs one by one`,
      `${batch.totalMs.toFixed(0)} ms`,
      `${single1.totalMs.toFixed(0)} ms, ×${(single1.totalMs / batch.totalMs).toFixed(1)}`,
    ])
  }
  if (adapter)
    rows.push([
      `  the same through the daemon's ipcache adapter (parse+encode+batch)`,
      `${adapter.totalMs.toFixed(0)} ms`,
      '',
    ])
  for (const p of a.policies) {
    rows.push([
      `load a policy of ${p.rules} rules: accepted / in the pinned maps`,
      `${(p.acceptedMs / 1000).toFixed(1)} s / ${(p.mapWrittenMs / 1000).toFixed(1)} s`,
      `longest event-loop stall ${p.maxStallMs.toFixed(0)} ms; RSS peak ${p.peakRssMiB.toFixed(0)}, loaded ${p.rssLoadedMiB.toFixed(0)} MiB`,
    ])
  }
  for (const m of a.wg.memory.filter((x) => x.peers === 1000 && (x.control ?? 'uapi') === 'uapi')) {
    rows.push([
      'engine process RSS, 0 → 1000 peers programmed (MiB)',
      `${m.engineRssBeforeMiB} → ${m.engineRssAfterMiB}`,
      `wireguard-go ${m.wireguardGoRssBeforeMiB} → ${m.wireguardGoRssAfterMiB}`,
    ])
  }
  const rss = Object.entries(a.latchdPeakRssMiB)
    .map(([node, mib]) => `${node} ${mib.toFixed(1)}`)
    .join(', ')
  if (rss) rows.push(['latchd peak RSS in the latch run (MiB)', rss, ''])
  return table(['latch alone', 'latch', 'comparison'], rows)
}

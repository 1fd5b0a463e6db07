/**
 * `node --import=tsx scripts/cpuprofile-top.ts FILE.cpuprofile [--from US] [--to US] [--top 15] [--json]`:
 * where a Node.js process spent its CPU, from a V8 profile written by `node --cpu-prof`. Sums the
 * time of each sample (the gap to the next one) by function (self), by source file (self) and by
 * function including what it called (each function counted once per sample, however deep it
 * recurses), and prints the top entries with their share of the busy time ("(idle)" excluded).
 * --from/--to keep only samples in that window of the profile's clock (microseconds of
 * CLOCK_MONOTONIC, the clock of `process.hrtime`), e.g. a benchmark's burst. Pure apart from reading the file.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
export interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}
export interface Row {
  name: string
  ms: number
  pct: number
}
export interface ProfileSummary {
  busyMs: number
  idleMs: number
  self: Row[]
  files: Row[]
  inclusive: Row[]
}

const shortUrl = (url: string) => url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/') || '(native)'
const frameName = (n: ProfileNode) =>
  n.callFrame.url === ''
    ? n.callFrame.functionName || '(anonymous)'
    : `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`

export function summarise(
  p: CpuProfile,
  o: { from?: number; to?: number; top?: number } = {},
): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const files = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us)
  let t = p.startTime
  let busy = 0
  let idle = 0
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0
    const us = Math.max(0, (p.timeDeltas[i + 1] ?? 0) || 0)
    if ((o.from !== undefined && t < o.from) || (o.to !== undefined && t > o.to)) continue
    const node = byId.get(p.samples[i] as number)
    if (!node) continue
    const name = frameName(node)
    if (name === '(idle)') {
      idle += us
      continue
    }
    busy += us
    add(self, name, us)
    add(files, node.callFrame.url === '' ? name : shortUrl(node.callFrame.url), us)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)
      if (!f || f.callFrame.functionName === '(root)') continue
      const k = frameName(f)
      if (seen.has(k)) continue
      seen.add(k)
      add(inclusive, k, us)
    }
  }
  const top = (m: Map<string, number>): Row[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, o.top ?? 15)
      .map(([name, us]) => ({
        name,
        ms: +(us / 1000).toFixed(1),
        pct: +((100 * us) / (busy || 1)).toFixed(1),
      }))
  return {
    busyMs: +(busy / 1000).toFixed(1),
    idleMs: +(idle / 1000).toFixed(1),
    self: top(self),
    files: top(files),
    inclusive: top(inclusive),
  }
}

export function formatSummary(s: ProfileSummary): string {
  const block = (title: string, rows: Row[]) =>
    [
      title,
      ...rows.map((r) => `${r.pct.toFixed(1).padStart(6)}%  ${r.ms.toFixed(0).padStart(8)} ms  ${r.name}`),
    ].join('\n')
  return [
    `busy ${s.busyMs.toFixed(0)} ms (idle ${s.idleMs.toFixed(0)} ms)`,
    block('self time by function:', s.self),
    block('self time by file:', s.files),
    block('including callees, by function:', s.inclusive),
  ].join('\n\n')
}

if (process.argv[1]?.endsWith('cpuprofile-top.ts')) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
    },
  })
  const file = positionals[0]
  if (!file)
    throw new Error('usage: cpuprofile-top.ts FILE.cpuprofile [--from US] [--to US] [--top N] [--json]')
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v))
  const s = summarise(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, {
    from: num(values.from),
    to: num(values.to),
    top: num(values.top),
  })
  console.log(values.json ? JSON.stringify(s, null, 2) : formatSummary(s))
}

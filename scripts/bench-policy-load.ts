/**
 * scripts/bench-policy-load: loading big policies in one process the way latchd does. It compiles
 * the file text (compilePolicyAsync: parse, validation and the summary in a worker, the tables a
 * chunk per turn), prepares the policy-map entries and their diff (DatapathReconciler.setPolicy →
 * PolicyMapState, a chunk per turn) and writes them: with `--maps kernel` (the default as root)
 * into the real pinned BPF maps of a Datapath loaded under a bpffs directory of its own (removed
 * at the end), with `--maps model` into test/engine/helpers/fake-maps.ts. For each size it reports
 * time to accepted (compiled), time to the map being written, peak RSS, and the longest event-loop
 * stall (monitorEventLoopDelay max), split into the compile and the map phase. Options: --sizes
 * 10000,100000 (rules), --maps kernel|model, --out FILE (default bench-results/policy-load.json).
 * Issue 10, "big policies stay cheap".
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { Datapath } from '../daemon/datapath/index.js'
import { REPO_ROOT } from '../daemon/datapath/native.js'
import type { DatapathMaps } from '../daemon/engine/datapath-maps.js'
import { DatapathReconciler } from '../daemon/engine/datapath-reconcile.js'
import { IdentityAllocator } from '../daemon/engine/identities.js'
import { compilePolicyAsync } from '../daemon/policy/index.js'
import { FakeMaps } from '../test/engine/helpers/fake-maps.js'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench-results', 'policy-load.json') },
    maps: { type: 'string', default: process.getuid?.() === 0 ? 'kernel' : 'model' },
  },
})
const SIZES = String(args.sizes).split(',').map(Number)
if (args.maps !== 'kernel' && args.maps !== 'model') {
  process.stderr.write(`--maps must be kernel or model, got ${JSON.stringify(args.maps)}\n`)
  process.exit(2)
}
const PIN_DIR = `/sys/fs/bpf/latch-bench-policy-${process.pid}`

/** The maps written: a loaded Datapath's pinned maps, or the in-memory model. */
function openMaps(): { maps: DatapathMaps; entries: () => number; close: () => void } {
  if (args.maps === 'model') {
    const m = new FakeMaps()
    return { maps: m, entries: () => m.policyMap.size, close: () => undefined }
  }
  Datapath.unpin(PIN_DIR)
  const dp = Datapath.load({ pinDir: PIN_DIR, eventIntervalMs: 1000 })
  return {
    maps: dp,
    entries: () => dp.policy.list().length,
    close: () => {
      dp.close()
      Datapath.unpin(PIN_DIR)
    },
  }
}
const TD = 'bench.latch'

function policyText(n: number): string {
  const lines = ['version: 1', `trustDomain: ${TD}`, 'allow:']
  for (let i = 0; i < n; i++) {
    lines.push(`  - from: spiffe://${TD}/ns/a/sa/w${i % 1000}`)
    lines.push(`    to: spiffe://${TD}/ns/b/sa/w${Math.floor(i / 1000)}`)
    lines.push('    ports: [tcp/5432, udp/53]')
  }
  return `${lines.join('\n')}\n`
}

interface Row {
  rules: number
  fileBytes: number
  acceptedMs: number
  mapWrittenMs: number
  entries: number
  peakRssMiB: number
  /** resident with the policy loaded, once the worker exited */
  rssLoadedMiB: number
  maxStallMs: number
  /** the longest stall until accepted (compile) and after it (policy-map entries, reconcile) */
  compileStallMs: number
  mapStallMs: number
}

async function one(n: number): Promise<Row> {
  const text = policyText(n)
  const ids = new IdentityAllocator(undefined)
  // every identity the rules name has an id (a node that hosts or knows them all): the worst case
  for (let i = 0; i < 1000; i++) ids.idOf(`spiffe://${TD}/ns/a/sa/w${i}`)
  for (let i = 0; i <= Math.floor((n - 1) / 1000); i++) ids.idOf(`spiffe://${TD}/ns/b/sa/w${i}`)
  const opened = openMaps()
  const r = DatapathReconciler.adopt({
    maps: opened.maps,
    ids,
    local: [],
    wireguardIfindex: () => 9,
    graceMs: 60_000,
    logger: pino({ level: 'silent' }),
  })
  const h = monitorEventLoopDelay({ resolution: 10 })
  // a timer keeps the loop turning so a stall shows as delay
  const tick = setInterval(() => undefined, 5)
  h.enable()
  await new Promise((res) => setTimeout(res, 50))
  const t0 = performance.now()
  const policy = await compilePolicyAsync(text, { file: `bench-${n}.yaml` })
  const acceptedMs = performance.now() - t0
  h.disable()
  const compileStallMs = h.max / 1e6
  // a histogram of its own for the map phase (reset() would drop the first delay after it), given
  // a tick to take its first timestamp
  const hMap = monitorEventLoopDelay({ resolution: 10 })
  hMap.enable()
  await new Promise((res) => setTimeout(res, 30))
  const t1 = performance.now()
  await r.setPolicy(policy)
  const mapWrittenMs = acceptedMs + (performance.now() - t1)
  await new Promise((res) => setTimeout(res, 50))
  hMap.disable()
  const entries = opened.entries()
  opened.close()
  // what stays resident with the policy loaded (the compile worker has exited)
  await new Promise((res) => setTimeout(res, 500))
  const rssLoadedMiB = process.memoryUsage.rss() / 1024 / 1024
  clearInterval(tick)
  return {
    rules: n,
    fileBytes: Buffer.byteLength(text),
    acceptedMs,
    mapWrittenMs,
    entries,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    rssLoadedMiB,
    maxStallMs: Math.max(compileStallMs, hMap.max / 1e6),
    compileStallMs,
    mapStallMs: hMap.max / 1e6,
  }
}

async function main(): Promise<void> {
  const rows: Row[] = []
  for (const n of SIZES) rows.push(await one(n))
  const headers = [
    'rules',
    'file MB',
    'accepted ms',
    'map written ms',
    'entries',
    'peak RSS MiB',
    'RSS loaded MiB',
    'max stall ms',
    'compile / map stall ms',
  ]
  const cells = rows.map((x) => [
    x.rules,
    (x.fileBytes / 1e6).toFixed(1),
    x.acceptedMs.toFixed(0),
    x.mapWrittenMs.toFixed(0),
    x.entries,
    x.peakRssMiB.toFixed(0),
    x.rssLoadedMiB.toFixed(0),
    x.maxStallMs.toFixed(0),
    `${x.compileStallMs.toFixed(0)} / ${x.mapStallMs.toFixed(0)}`,
  ])
  const all = [headers, ...cells.map((c) => c.map(String))]
  const w = headers.map((_, i) => Math.max(...all.map((c) => c[i]!.length)))
  const line = (c: string[]) => c.map((v, i) => v.padEnd(w[i]!)).join('  ')
  process.stdout.write(
    `policy load in one process (compile, policy-map entries and diff, written into the ${args.maps === 'kernel' ? 'pinned BPF maps' : 'modelled maps'}); peak RSS is the process's, cumulative over sizes\n${line(headers)}\n${w.map((x) => '-'.repeat(x)).join('  ')}\n${cells.map((c) => line(c.map(String))).join('\n')}\n`,
  )
  mkdirSync(dirname(args.out!), { recursive: true })
  writeFileSync(
    args.out!,
    `${JSON.stringify({ when: new Date().toISOString(), maps: args.maps, machine: { kernel: release(), cpus: cpus().length, node: process.version }, rows }, null, 2)}\n`,
  )
  process.stdout.write(`wrote ${args.out}\n`)
}

await main()

/**
 * scripts/bench-policy-load: loading big policies in one process the way latchd does. It compiles
 * the file text (compilePolicy), compiles the policy-map entries (policyEntries) and reconciles them
 * into a modelled policy map (DatapathReconciler + test/engine/helpers/fake-maps.ts, the same plan
 * and apply code as the pinned maps). For each size it reports time to accepted (compiled), time
 * to the map being written, peak RSS, and the longest event-loop stall (monitorEventLoopDelay max)
 * while it happens. Options: --sizes 10000,100000 (rules), --out FILE (default
 * bench-results/policy-load.json). Issue 10, "big policies stay cheap": the compile is latchd's
 * (compilePolicyAsync: parse + validation in a worker, tables built a chunk per turn); the stall
 * left is what still runs in one turn (policy-map entries, the reconcile's plan).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { REPO_ROOT } from '../daemon/datapath/native.js'
import { DatapathReconciler } from '../daemon/engine/datapath-reconcile.js'
import { IdentityAllocator } from '../daemon/engine/identities.js'
import { compilePolicyAsync } from '../daemon/policy/index.js'
import { FakeMaps } from '../test/engine/helpers/fake-maps.js'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench-results', 'policy-load.json') },
  },
})
const SIZES = String(args.sizes).split(',').map(Number)
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
  const maps = new FakeMaps()
  const r = DatapathReconciler.adopt({
    maps,
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
  clearInterval(tick)
  return {
    rules: n,
    fileBytes: Buffer.byteLength(text),
    acceptedMs,
    mapWrittenMs,
    entries: maps.policyMap.size,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
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
    x.maxStallMs.toFixed(0),
    `${x.compileStallMs.toFixed(0)} / ${x.mapStallMs.toFixed(0)}`,
  ])
  const all = [headers, ...cells.map((c) => c.map(String))]
  const w = headers.map((_, i) => Math.max(...all.map((c) => c[i]!.length)))
  const line = (c: string[]) => c.map((v, i) => v.padEnd(w[i]!)).join('  ')
  process.stdout.write(
    `policy load in one process (compile, policy-map entries, reconcile into a modelled map); peak RSS is the process's, cumulative over sizes\n${line(headers)}\n${w.map((x) => '-'.repeat(x)).join('  ')}\n${cells.map((c) => line(c.map(String))).join('\n')}\n`,
  )
  mkdirSync(dirname(args.out!), { recursive: true })
  writeFileSync(
    args.out!,
    `${JSON.stringify({ when: new Date().toISOString(), machine: { kernel: release(), cpus: cpus().length, node: process.version }, rows }, null, 2)}\n`,
  )
  process.stdout.write(`wrote ${args.out}\n`)
}

await main()

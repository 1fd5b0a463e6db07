/**
 * scripts/bench-reconcile: the datapath reconcile's cost per workload registration as the number
 * of registered workloads grows, on real pinned BPF maps (a Datapath loaded under a bpffs
 * directory of its own, removed at the end). Each registration is what a CNI ADD makes latchd do:
 * the workload joins the local set (endpoint + ipcache entries), then its pair with an allowed
 * remote peer is proven (remote ipcache entry, auth entries both ways); each step is one awaited
 * reconcile, as in latchd. A policy with one rule per workload (workload → peer) is loaded first.
 * Reported per window of registrations (`--windows 1-100,451-550,901-1000`): CPU ms and wall ms
 * per registration; plus one GC tick's reconcile (a full read-back of the maps) at the end.
 * Options: --workloads N (default 1000), --windows A-B,..., --out FILE (default
 * bench-results/reconcile.json). Issue 13 (1000 registrations on one latchd) and 17.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { table } from '../daemon/control/text-table.js'
import { Datapath } from '../daemon/datapath/index.js'
import { REPO_ROOT } from '../daemon/datapath/native.js'
import type { LocalEndpointFact, ProvenPair } from '../daemon/engine/datapath-desired.js'
import { DatapathReconciler } from '../daemon/engine/datapath-reconcile.js'
import { IdentityAllocator } from '../daemon/engine/identities.js'
import { compilePolicyAsync } from '../daemon/policy/index.js'

const { values: args } = parseArgs({
  options: {
    workloads: { type: 'string', default: '1000' },
    windows: { type: 'string', default: '1-100,451-550,901-1000' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench-results', 'reconcile.json') },
  },
})
const N = Number(args.workloads)
const WINDOWS = String(args.windows)
  .split(',')
  .map((w) => w.split('-').map(Number) as [number, number])
if (!Number.isInteger(N) || N < 1 || N > 4000 || WINDOWS.some(([a, b]) => !(a >= 1 && b >= a && b <= N))) {
  process.stderr.write('--workloads must be 1..4000 and every --windows range A-B within 1..N\n')
  process.exit(2)
}
const PIN_DIR = `/sys/fs/bpf/latch-bench-reconcile-${process.pid}`
const TD = 'bench.latch'
const PEER = `spiffe://${TD}/ns/db/sa/peer`
const PEER_IP = '10.128.0.10'
const WG_IFINDEX = 9

const workload = (i: number): LocalEndpointFact => ({
  id: `spiffe://${TD}/ns/cni/sa/w${i}`,
  ips: [`10.129.${Math.floor((i + 10) / 256)}.${(i + 10) % 256}`],
  // the host side of its veth: the endpoints map only keys on the number
  ifindex: 1000 + i,
})

function policyText(n: number): string {
  const lines = ['version: 1', `trustDomain: ${TD}`, 'allow:']
  for (let i = 1; i <= n; i++) {
    lines.push(`  - from: ${workload(i).id}`, `    to: ${PEER}`, '    ports: [tcp/5432]')
  }
  return `${lines.join('\n')}\n`
}

interface Window {
  from: number
  to: number
  cpuMsPerRegistration: number
  wallMsPerRegistration: number
}

async function main(): Promise<void> {
  Datapath.unpin(PIN_DIR)
  const dp = Datapath.load({ pinDir: PIN_DIR, eventIntervalMs: 1000 })
  try {
    const local: LocalEndpointFact[] = []
    const pairs: ProvenPair[] = []
    const r = DatapathReconciler.adopt({
      maps: dp,
      ids: new IdentityAllocator(undefined),
      local,
      wireguardIfindex: () => WG_IFINDEX,
      graceMs: 0,
      logger: pino({ level: 'silent' }),
    })
    await r.setPolicy(await compilePolicyAsync(policyText(N), { file: 'bench-reconcile.yaml' }))
    const expiresAt = new Date(Date.now() + 3600_000)
    const windows: Window[] = []
    let mark = { cpu: process.cpuUsage(), wall: performance.now() }
    for (let i = 1; i <= N; i++) {
      const w = WINDOWS.find(([a]) => a === i)
      if (w !== undefined) mark = { cpu: process.cpuUsage(), wall: performance.now() }
      local.push(workload(i))
      await r.setLocal(local)
      pairs.push({ local: workload(i).id, remote: PEER, remoteIps: [PEER_IP], expiresAt })
      await r.setProvenPairs(pairs)
      const end = WINDOWS.find(([, b]) => b === i)
      if (end !== undefined) {
        const cpu = process.cpuUsage(mark.cpu)
        const n = end[1] - end[0] + 1
        windows.push({
          from: end[0],
          to: end[1],
          cpuMsPerRegistration: (cpu.user + cpu.system) / 1000 / n,
          wallMsPerRegistration: (performance.now() - mark.wall) / n,
        })
      }
    }
    const entries = {
      endpoints: dp.endpoints.list().length,
      ipcache: dp.ipcache.list().length,
      auth: dp.auth.list().length,
      policy: dp.policy.list().length,
    }
    const c0 = process.cpuUsage()
    r.collect()
    const c1 = process.cpuUsage(c0)
    const gcTickCpuMs = (c1.user + c1.system) / 1000

    const rows = [
      ['registrations', 'CPU ms / registration', 'wall ms / registration'],
      ...windows.map((x) => [
        `${x.from}-${x.to}`,
        x.cpuMsPerRegistration.toFixed(2),
        x.wallMsPerRegistration.toFixed(2),
      ]),
    ]
    const first = windows[0]!
    const last = windows.at(-1)!
    process.stdout.write(
      `datapath reconcile per workload registration (set local + prove its pair: 2 reconciles), pinned BPF maps, ${N} workloads\n` +
        `${table(rows)}\n` +
        `growth (last window / first): ${(last.cpuMsPerRegistration / first.cpuMsPerRegistration).toFixed(1)}x CPU; ` +
        `a GC tick's reconcile (full read-back) at ${N}: ${gcTickCpuMs.toFixed(1)} ms CPU; ` +
        `maps: ${entries.endpoints} endpoints, ${entries.ipcache} ipcache, ${entries.auth} auth, ${entries.policy} policy\n`,
    )
    mkdirSync(dirname(args.out!), { recursive: true })
    writeFileSync(
      args.out!,
      `${JSON.stringify({ when: new Date().toISOString(), machine: { kernel: release(), cpus: cpus().length, node: process.version }, workloads: N, windows, gcTickCpuMs, entries }, null, 2)}\n`,
    )
    process.stdout.write(`wrote ${args.out}\n`)
  } finally {
    dp.close()
    Datapath.unpin(PIN_DIR)
  }
}

await main()

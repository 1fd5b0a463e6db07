/**
 * The benchmark behind scripts/bench-pair-latency. Two PairServices (the daemon's assembly: policy
 * watch with its 200 ms debounce, planner, PairAuthLoop, pair-auth server and client, SVID issuance)
 * for node1 and node2 run in this one process on loopback (127.0.0.21/22 as tunnel addresses), with
 * a real PKI in a temp dir. The datapath is a recorder that timestamps when each auth entry first appears in the proven pairs handed to it: this
 * measures everything up to the datapath write, not the BPF map update itself (see bench-datapath
 * for that: microseconds per entry). One policy write allows N×M pairs at once; for each pair we take
 * the time until BOTH nodes wrote both directions.
 */
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { daemonPkiFiles, initCa, issueNode, nodePaths } from '../certs/index.js'
import { configSchema } from '../daemon/config/schema.js'
import type {
  AuthPairEntry,
  AuthRequiredEvent,
  IdentityDatapath,
  ProvenPair,
} from '../daemon/engine/identity-datapath.js'
import { PairService } from '../daemon/node/pair-service.js'
import type { PeerSnapshot } from '../daemon/node/peer.js'
import { benchLab } from './bench-pair-latency-lab.js'

const { values } = parseArgs({
  options: {
    local: { type: 'string', default: '20' },
    remote: { type: 'string', default: '10' },
    lab: { type: 'boolean', default: false },
    workloads: { type: 'string', default: '15' },
    'poll-ms': { type: 'string', default: '20' },
  },
})
const NL = Number(values.local)
const NR = Number(values.remote)
const TD = 'bench.latch'
const NODES = [
  { name: 'node1', address: '127.0.0.21', cidr: '10.100.1.0/24', prefix: 'a' },
  { name: 'node2', address: '127.0.0.22', cidr: '10.100.2.0/24', prefix: 'b' },
] as const
const ids = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `spiffe://${TD}/ns/bench/sa/${prefix}${String(i).padStart(3, '0')}`)
const W = { node1: ids('a', NL), node2: ids('b', NR) }
const ipOf = (node: 0 | 1, i: number) => `10.100.${node + 1}.${10 + i}`

/** Timestamps each auth entry's first appearance: the moment the daemon hands it to the datapath. */
class RecordingDatapath implements IdentityDatapath {
  readonly written = new Map<string, number>()
  async setProvenPairs(pairs: readonly ProvenPair[]): Promise<void> {
    const now = performance.now()
    for (const p of pairs) {
      for (const k of [`${p.local} ${p.remote}`, `${p.remote} ${p.local}`])
        if (!this.written.has(k)) this.written.set(k, now)
    }
  }
  async revoke(src: string, dst: string): Promise<void> {
    this.written.delete(`${src} ${dst}`)
  }
  async listAuth(): Promise<AuthPairEntry[]> {
    return []
  }
  async setPolicy(): Promise<void> {}
  onAuthRequired(_l: (e: AuthRequiredEvent) => void): () => void {
    return () => undefined
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'latch-bench-pairlat-'))
  try {
    await initCa({ dir, trustDomain: TD })
    for (const n of NODES) await issueNode({ dir, node: n.name, ip: n.address, workloadCidrs: [n.cidr] })
    const policyFile = join(dir, 'policy.yaml')
    await writeFile(policyFile, `version: 1\ntrustDomain: ${TD}\nallow: []\n`)
    const logger = pino({ level: 'silent' })
    const services: PairService[] = []
    const dps: RecordingDatapath[] = []
    for (const [i, n] of NODES.entries()) {
      const other = NODES[1 - i]!
      const p = nodePaths(dir, n.name)
      const mine = i === 0 ? W.node1 : W.node2
      const theirs = i === 0 ? W.node2 : W.node1
      const wdir = join(dir, 'run', n.name)
      await mkdir(wdir, { recursive: true })
      const config = configSchema.parse({
        node: n.name,
        trustDomain: TD,
        pki: daemonPkiFiles(dir, n.name),
        listen: { address: n.address },
        workloadCidrs: [n.cidr],
        wireguard: { address: `${n.address}/32`, privateKeyFile: join(wdir, 'wg.key') },
        peersFile: join(wdir, 'peers.yaml'),
        workloads: mine.map((id, j) => ({
          id,
          ips: [ipOf(i as 0 | 1, j)],
          certFile: join(wdir, `${j}.crt`),
          keyFile: join(wdir, `${j}.key`),
        })),
        policyFile,
        pairAuth: { port: 17460 },
      })
      const peer = {
        name: other.name,
        address: other.address,
        port: 7443,
        role: 'dialer',
        state: 'established',
        tunnel: 'up',
        rotations: 0,
        tunnelAddress: `${other.address}/32`,
        workloadCidrs: [other.cidr],
        workloads: theirs.map((id, j) => ({ id, ips: [ipOf((1 - i) as 0 | 1, j)] })),
      } as PeerSnapshot
      const dp = new RecordingDatapath()
      const svc = new PairService({
        config,
        logger,
        rootPem: await readFile(join(dir, 'ca', 'root.crt'), 'utf8'),
        node: {
          certPem: await readFile(p.cert, 'utf8'),
          keyPem: await readFile(p.key, 'utf8'),
        },
        peers: () => [peer],
        datapath: dp,
      })
      await svc.start()
      services.push(svc)
      dps.push(dp)
    }
    const rules = W.node1.flatMap((a) => W.node2.map((b) => `  - from: ${a}\n    to: ${b}\n`)).join('')
    const pairs = W.node1.flatMap((a) => W.node2.map((b) => [a, b] as const))
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await writeFile(`${policyFile}.tmp`, `version: 1\ntrustDomain: ${TD}\nallow:\n${rules}`)
    await rename(`${policyFile}.tmp`, policyFile)
    const need = pairs.length * 4
    const deadline = Date.now() + 60_000
    while (dps.reduce((s, d) => s + d.written.size, 0) < need && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10))
    const t1 = performance.now()
    const cpu = process.cpuUsage(cpu0)
    const lat: number[] = []
    let missing = 0
    for (const [a, b] of pairs) {
      const ts = dps.flatMap((d) => [d.written.get(`${a} ${b}`), d.written.get(`${b} ${a}`)])
      if (ts.some((x) => x === undefined)) missing++
      else lat.push(Math.max(...(ts as number[])) - t0)
    }
    lat.sort((x, y) => x - y)
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    const result = {
      pairs: pairs.length,
      authenticated: lat.length,
      missing,
      policyDebounceMs: 200,
      latencyMs: {
        p50: +pct(lat, 50).toFixed(1),
        p99: +pct(lat, 99).toFixed(1),
        max: +(lat.at(-1) ?? Number.NaN).toFixed(1),
      },
      wallSeconds: +((t1 - t0) / 1000).toFixed(3),
      authPerSecond: +(lat.length / ((t1 - t0) / 1000)).toFixed(1),
      cpuSeconds: +cpuSeconds.toFixed(3),
      authPerCpuSecond: +(lat.length / cpuSeconds).toFixed(1),
      note: 'one process holds both daemons: per CPU-second counts client + server work of each authentication',
    }
    console.log('policy write -> auth entries written (both nodes, both directions), loopback')
    console.log('pairs  ok   p50 ms  p99 ms  max ms  wall s  auth/s  auth/CPU-s')
    console.log(
      `${String(result.pairs).padEnd(6)} ${String(result.authenticated).padEnd(4)} ${String(result.latencyMs.p50).padEnd(7)} ${String(result.latencyMs.p99).padEnd(7)} ${String(result.latencyMs.max).padEnd(7)} ${String(result.wallSeconds).padEnd(7)} ${String(result.authPerSecond).padEnd(7)} ${result.authPerCpuSecond}`,
    )
    console.log(`(includes the policy watcher's ${result.policyDebounceMs} ms debounce)`)
    await mkdir('bench-results', { recursive: true })
    await writeResults('loopback', result)
    console.log('wrote bench-results/pair-latency.json (loopback)')
    for (const s of services) await s.stop()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function mainLab(): Promise<void> {
  const result = await benchLab({ workloads: Number(values.workloads), pollMs: Number(values['poll-ms']) })
  const r = result as {
    pairs: number
    authenticated: number
    latencyMs: { p50: number; p99: number; max: number }
    loggedLatencyMs: { p50: number; p99: number; max: number }
    wallSeconds: number
    authPerSecond: number
    latchdCpuSeconds: number
    authPerCpuSecond: number
    pollMs: number
  }
  console.log('policy write -> BPF auth entries present (both nodes, both directions), lab with real latchd')
  console.log('pairs  ok   p50 ms  p99 ms  max ms  wall s  auth/s  latchd CPU s  auth/CPU-s')
  console.log(
    `${String(r.pairs).padEnd(6)} ${String(r.authenticated).padEnd(4)} ${String(r.latencyMs.p50).padEnd(7)} ${String(r.latencyMs.p99).padEnd(7)} ${String(r.latencyMs.max).padEnd(7)} ${String(r.wallSeconds).padEnd(7)} ${String(r.authPerSecond).padEnd(7)} ${String(r.latchdCpuSeconds).padEnd(13)} ${r.authPerCpuSecond}`,
  )
  const g = r.loggedLatencyMs
  console.log(
    `${'(logged)'.padEnd(11)} ${String(g.p50).padEnd(7)} ${String(g.p99).padEnd(7)} ${String(g.max).padEnd(7)} <- the later daemon's pair_authenticated log line`,
  )
  console.log(`(includes the policy watcher's 200 ms debounce; BPF entries polled every ${r.pollMs} ms)`)
  await writeResults('lab', result)
  console.log('wrote bench-results/pair-latency.json (lab)')
}

/** bench-results/pair-latency.json holds both modes ({ loopback, lab }); a run replaces its own. */
async function writeResults(mode: 'loopback' | 'lab', result: unknown): Promise<void> {
  await mkdir('bench-results', { recursive: true })
  const file = 'bench-results/pair-latency.json'
  let previous: Record<string, unknown> = {}
  try {
    previous = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  } catch {
    // none yet, or unreadable: start over
  }
  // files from before the lab mode held the loopback result at the top level
  const kept = 'pairs' in previous ? { loopback: previous } : previous
  await writeFile(file, `${JSON.stringify({ ...kept, [mode]: result }, null, 2)}\n`)
}

await (values.lab ? mainLab() : main())

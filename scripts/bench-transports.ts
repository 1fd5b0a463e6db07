/**
 * `scripts/bench-transports [--seconds N] [--json PATH]`: what carries the mesh, side by side in one
 * run on a lab of 2 nodes × 1 workload (node1-w1 → node2-w1): plaintext (underlay routes, no
 * latchd), kernel WireGuard, IPsec (ESP through XFRM) and wireguard-go, each latchd-driven. For
 * each: bulk TCP (iperf3, one stream, N s) with the CPU seconds per GB of the lab's processes, and
 * the ping round trip (median of 20). The ratios are against plaintext of the same run: the figures
 * are for the real-kernel lane (`scripts/kernel-lane -- scripts/bench-transports`), where absolute
 * numbers mean little and ratios do. A transport this kernel cannot carry (this host: no WireGuard
 * module, no ESP) is listed as unavailable with the reason; the others still run. Root; the lab
 * must be down (it is brought up per setup and taken down at the end). Prints the table and
 * writes the JSON (default bench-results/transports.json).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { asLatchError, LatchError } from '../daemon/base/errors.js'
import { scaled, timeScale } from '../daemon/base/time-scale.js'
import { table } from '../daemon/control/text-table.js'
import { labDown, labUp, setUnderlayRoutes } from '../daemon/lab/index.js'
import type { LabPlan } from '../daemon/lab/plan.js'
import { readState } from '../daemon/lab/state.js'
import { setWorkloadRouteMtu } from '../daemon/lab/workload-mtu.js'
import { QUICK } from './benchmark/config.js'
import { labNamespaceFiles } from './benchmark/cpu-meter.js'
import { machine } from './benchmark/machine.js'
import { bulk, type Path, type Throughput } from './benchmark/measure.js'
import { REPO } from './benchmark/paths.js'
import { runIn, startIn, stopAll } from './benchmark/procs.js'

type SetupName = 'plaintext' | 'wireguard-kernel' | 'ipsec' | 'wireguard-go'

interface Setup {
  name: SetupName
  describe: string
  /** latchd's transport and WireGuard backend; undefined: no latchd (plaintext). */
  latchd?: { transport: 'wireguard' | 'ipsec'; wireguardBackend?: 'kernel' | 'userspace' }
  /** Route MTU of the workloads (the tunnel's), as a CNI sets it; undefined: the lab's 1500. */
  mtu?: number
}

const SETUPS: Setup[] = [
  { name: 'plaintext', describe: 'plaintext (underlay routes, no latchd)' },
  {
    name: 'wireguard-kernel',
    describe: 'kernel WireGuard',
    latchd: { transport: 'wireguard', wireguardBackend: 'kernel' },
    mtu: 1420,
  },
  // ESP tunnel mode, AES-GCM: outer IPv4 20 + ESP 8 + IV 8 + ICV 16 + trailer 2-5 bytes
  { name: 'ipsec', describe: 'IPsec (ESP, rfc4106(gcm(aes)))', latchd: { transport: 'ipsec' }, mtu: 1440 },
  {
    name: 'wireguard-go',
    describe: 'wireguard-go (user space)',
    latchd: { transport: 'wireguard', wireguardBackend: 'userspace' },
    mtu: 1420,
  },
]

interface Result {
  setup: SetupName
  describe: string
  /** Set when this kernel or machine cannot run the setup (the first line of why). */
  unavailable?: string
  throughput?: Throughput
  rttMs?: { median: number; samples: number[] }
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        seconds: { type: 'string', default: '5' },
        json: { type: 'string', default: join(REPO, 'bench-results', 'transports.json') },
        help: { type: 'boolean', default: false },
      },
    }).values
  } catch (err) {
    process.stderr.write(
      `error LATCH_ERR_USAGE_BAD_ARGUMENT: ${(err as Error).message}\n  fix: scripts/bench-transports [--seconds N] [--json PATH]\n`,
    )
    process.exit(64)
  }
}

const args = parseCommandLine()
if (args.help) {
  process.stdout.write(
    'usage: scripts/bench-transports [--seconds N] [--json PATH]\n' +
      '  plaintext vs kernel WireGuard vs IPsec vs wireguard-go, node1-w1 -> node2-w1, ratios vs plaintext\n' +
      '  --seconds  iperf3 duration per setup (default 5)\n' +
      '  --json     where the results go (default bench-results/transports.json)\n',
  )
  process.exit(0)
}
const seconds = Number(args.seconds)
if (!Number.isInteger(seconds) || seconds < 1 || seconds > 120) {
  process.stderr.write(
    `error LATCH_ERR_USAGE_BAD_ARGUMENT: --seconds wants a whole number from 1 to 120, got ${args.seconds}\n`,
  )
  process.exit(64)
}
const t0 = Date.now()
const log = (line: string) =>
  process.stderr.write(`[bench-transports ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`)

const CLIENT = 'node1-w1'
const SERVER = 'node2-w1'
const IPERF_PORT = 5201

function serverIp(plan: LabPlan): string {
  const w = plan.nodes.flatMap((n) => n.workloads).find((x) => x.name === SERVER)
  if (!w) throw new LatchError('LATCH_ERR_INTERNAL_BUG', `the lab has no ${SERVER}`)
  return w.ip
}

/** Pings until one answers (the tunnel is up), or throws LATCH_ERR_BENCH_NO_PATH. */
async function waitForPath(plan: LabPlan, setup: SetupName): Promise<void> {
  const end = Date.now() + scaled(60_000)
  for (;;) {
    try {
      await runIn(plan, CLIENT, ['ping', '-c', '1', '-W', '1', serverIp(plan)], scaled(10_000))
      return
    } catch (err) {
      if (Date.now() > end) {
        throw new LatchError(
          'LATCH_ERR_BENCH_NO_PATH',
          `${setup}: ${CLIENT} does not reach ${SERVER} within ${scaled(60_000)} ms`,
          { cause: err },
        )
      }
    }
  }
}

async function rtt(plan: LabPlan): Promise<{ median: number; samples: number[] }> {
  const out = await runIn(plan, CLIENT, ['ping', '-c', '20', '-i', '0.2', serverIp(plan)], scaled(60_000))
  const samples = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]))
  if (samples.length === 0) throw new LatchError('LATCH_ERR_BENCH_TOOL_FAILED', `no ping answered:\n${out}`)
  const sorted = [...samples].sort((a, b) => a - b)
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, samples }
}

async function measure(plan: LabPlan, setup: Setup): Promise<Result> {
  await waitForPath(plan, setup.name)
  await setWorkloadRouteMtu(
    plan.nodes.flatMap((n) => n.workloads),
    setup.mtu,
  )
  await startIn(plan, SERVER, ['iperf3', '-s', '-p', String(IPERF_PORT), '--forceflush'], 'Server listening')
  const path: Path = { client: CLIENT, host: serverIp(plan), echoPort: 0, iperfPort: IPERF_PORT, udp: false }
  try {
    const throughput = await bulk(plan, path, { ...QUICK, iperfSeconds: seconds }, labNamespaceFiles(plan))
    return { setup: setup.name, describe: setup.describe, throughput, rttMs: await rtt(plan) }
  } finally {
    await stopAll()
  }
}

async function runSetup(setup: Setup): Promise<Result> {
  log(`${setup.describe}: lab up`)
  await labDown()
  try {
    const up = await labUp({
      nodes: 2,
      workloads: 1,
      daemons: setup.latchd !== undefined,
      ...(setup.latchd && { transport: setup.latchd.transport }),
      ...(setup.latchd?.wireguardBackend && { wireguardBackend: setup.latchd.wireguardBackend }),
    })
    if (setup.latchd === undefined) await setUnderlayRoutes(up.plan, true)
    const r = await measure(up.plan, setup)
    log(`${setup.describe}: ${r.throughput?.gbitPerSecond.toFixed(3)} Gbit/s, rtt p50 ${r.rttMs?.median} ms`)
    return r
  } catch (err) {
    const e = asLatchError(err)
    const why = `${e.code}: ${e.message.split('\n')[0]}`
    log(`${setup.describe}: unavailable: ${why}`)
    return { setup: setup.name, describe: setup.describe, unavailable: why }
  }
}

const ratio = (x: number | undefined, base: number | undefined) =>
  x === undefined || base === undefined || base === 0 ? undefined : Math.round((x / base) * 1000) / 1000

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new LatchError('LATCH_ERR_LAB_NOT_ROOT', 'the benchmark runs the lab')
  const state = await readState()
  if (state) {
    throw new LatchError(
      'LATCH_ERR_LAB_SHAPE_CONFLICT',
      `a lab is up (${state.size.nodes} nodes × ${state.size.workloads} workloads): take it down first (latchctl lab down); this benchmark brings up its own`,
    )
  }
  const results: Result[] = []
  try {
    for (const s of SETUPS) results.push(await runSetup(s))
  } finally {
    await labDown()
  }
  const base = results.find((r) => r.setup === 'plaintext')
  const rows = [['SETUP', 'GBIT/S', 'VS PLAIN', 'CPU S/GB', 'RTT P50 MS', 'VS PLAIN', 'RETRANS']]
  for (const r of results) {
    if (r.unavailable) {
      rows.push([r.describe, `unavailable (${r.unavailable.slice(0, 60)})`, '', '', '', '', ''])
      continue
    }
    const g = r.throughput?.gbitPerSecond
    rows.push([
      r.describe,
      g === undefined ? '-' : g.toFixed(3),
      String(ratio(g, base?.throughput?.gbitPerSecond) ?? '-'),
      r.throughput ? r.throughput.cpuSecondsPerGB.toFixed(1) : '-',
      String(r.rttMs?.median ?? '-'),
      String(ratio(r.rttMs?.median, base?.rttMs?.median) ?? '-'),
      String(r.throughput?.retransmits ?? '-'),
    ])
  }
  process.stdout.write(
    `transports, ${CLIENT} -> ${SERVER}, iperf3 ${seconds} s one stream, ping x20 (LATCH_TIME_SCALE ${timeScale()}); ratios vs plaintext of this run\n${table(rows)}\n`,
  )
  const jsonFile = resolve(args.json ?? '')
  await mkdir(dirname(jsonFile), { recursive: true })
  await writeFile(
    jsonFile,
    `${JSON.stringify(
      {
        benchmark: 'transports',
        date: new Date().toISOString(),
        machine: await machine(),
        timeScale: timeScale(),
        config: { iperfSeconds: seconds, pings: 20, client: CLIENT, server: SERVER },
        results: results.map((r) => ({
          ...r,
          vsPlaintext: {
            throughput: ratio(r.throughput?.gbitPerSecond, base?.throughput?.gbitPerSecond),
            rtt: ratio(r.rttMs?.median, base?.rttMs?.median),
          },
        })),
      },
      null,
      2,
    )}\n`,
  )
  log(`results: ${jsonFile}`)
  // plaintext must run; the transports may be missing from this kernel (reported above)
  return base?.unavailable ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (err) => {
    const e = asLatchError(err)
    process.stderr.write(`error ${e.code}: ${e.message}\n`)
    process.exit(1)
  },
)

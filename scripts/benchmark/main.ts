/**
 * `npm run bench [-- --quick] [--json PATH]` (scripts/bench): latch against plaintext and a
 * sidecar mTLS mesh, in one run on the lab, then latch alone. Prints the tables and writes the JSON
 * (machine, date, configuration, every raw sample). See README "Benchmarks".
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { asLatchError, LatchError } from '../../daemon/base/errors.js'
import { distEntry, findDaemon } from '../../daemon/lab/daemons.js'
import { netnsPath } from '../../daemon/lab/netns.js'
import type { LabPlan, LabWorkload } from '../../daemon/lab/plan.js'
import { processesIn } from '../../daemon/lab/procs.js'
import { LAB_TUNNEL_MTU, setWorkloadRouteMtu } from '../../daemon/lab/workload-mtu.js'
import { FULL, PORTS, QUICK } from './config.js'
import { labNamespaceFiles } from './cpu-meter.js'
import { firstConnect } from './first-connect.js'
import { ipcacheWrites, policyLoad, wgPeers } from './kernel-programming.js'
import {
  type LabSession,
  labLatchOff,
  labLatchOn,
  labLatchSwitch,
  labRestore,
  labSession,
} from './lab-setups.js'
import type { ProbeResult } from './load/protocol.js'
import { machine } from './machine.js'
import { bulk, measureSetup, type Path, type SetupResult } from './measure.js'
import { DEFAULT_JSON, ECHO_SERVER, LOAD_CLIENT, SCRATCH_DIR } from './paths.js'
import { statusKb } from './procfs.js'
import { nodeTool, runIn, startIn, stop, stopAll } from './procs.js'
import { latchAloneTable, setupsTable } from './report.js'
import { startSidecars } from './sidecar.js'
import { latchVariants, tunOffloads } from './transports.js'

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'string', default: DEFAULT_JSON },
        'wg-go': { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', default: false },
      },
    }).values
  } catch (err) {
    process.stderr.write(
      `error LATCH_ERR_USAGE_BAD_ARGUMENT: ${(err as Error).message}\n  fix: npm run bench [-- --quick] [--json PATH] [--wg-go PATH[:no-offloads]]...\n`,
    )
    process.exit(64)
  }
}
const args = parseCommandLine()
if (args.help) {
  process.stdout.write(
    'usage: npm run bench [-- --quick] [--json PATH] [--wg-go PATH[:no-offloads]]...\n' +
      '  plaintext vs latch vs sidecar mTLS between lab workloads node1-w1 → node2-w1, then latch alone\n' +
      '  --quick   fewer requests, 2 s iperf, 1k WireGuard peers only (CI)\n' +
      `  --json    where the results go (default ${DEFAULT_JSON})\n` +
      '  --wg-go   a latch setup per flag, same run, side by side: that wireguard-go build, with its TUN\n' +
      '            offloads on, or off with :no-offloads (default: one, wireguard-go on PATH)\n',
  )
  process.exit(0)
}
const cfg = args.quick ? QUICK : FULL
const jsonFile = resolve(args.json ?? DEFAULT_JSON)
const t0 = Date.now()
const log = (line: string) =>
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`)

function workload(plan: LabPlan, name: string): LabWorkload {
  const w = plan.nodes.flatMap((n) => n.workloads).find((x) => x.name === name)
  if (!w) throw new LatchError('LATCH_ERR_INTERNAL_BUG', `the bench lab has no ${name}`)
  return w
}

async function requirePath(plan: LabPlan, path: Path, setup: string, deadlineMs: number): Promise<void> {
  const out = await runIn(
    plan,
    path.client,
    nodeTool(LOAD_CLIENT, [
      'probe',
      '--host',
      path.host,
      '--port',
      String(path.echoPort),
      '--deadline-ms',
      String(deadlineMs),
    ]),
  )
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as ProbeResult
  if (!r.ok) {
    throw new LatchError(
      'LATCH_ERR_BENCH_NO_PATH',
      `${setup}: ${path.client} cannot connect to ${path.host}:${path.echoPort} within ${deadlineMs} ms`,
      { details: { setup, ...path } },
    )
  }
  log(`${setup}: path up after ${r.ms.toFixed(0)} ms`)
}

async function latchdPeakRss(plan: LabPlan): Promise<Record<string, number>> {
  const procs = await processesIn(plan.nodes.map((n) => netnsPath(n.netns)))
  const out: Record<string, number> = {}
  for (const node of plan.nodes) {
    const d = findDaemon(node, procs)
    const kb = d ? await statusKb(d.pid, 'VmHWM') : undefined
    if (kb !== undefined) out[node.name] = Math.round((kb / 1024) * 10) / 10
  }
  return out
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new LatchError(
      'LATCH_ERR_LAB_NOT_ROOT',
      'the benchmark needs root: it runs the lab (namespaces, BPF)',
    )
  }
  distEntry('latchd') // the latch setup runs the built daemon: fail before measuring anything
  const variants = await latchVariants(args['wg-go'] ?? [])
  log(`${cfg.quick ? 'quick' : 'full'} run; results → ${jsonFile}`)
  await mkdir(SCRATCH_DIR, { recursive: true, mode: 0o700 })
  const results: SetupResult[] = []
  let session: LabSession | undefined
  let latchdPeakRssMiB: Record<string, number> = {}
  let first: Awaited<ReturnType<typeof firstConnect>> = []
  const notes: string[] = []
  let pmtu: { routeMtu: number; workloads: string[]; gbitPerSecondAt1500: number } | undefined
  // once, whoever asks first (the end of the run, a failure, or a signal in the middle of either)
  let cleaning: Promise<void> | undefined
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      const stopped = await stopAll()
      if (stopped.length > 0) log(`stopped ${stopped.length} benchmark processes`)
      if (session) await labRestore(session)
      await rm(SCRATCH_DIR, { recursive: true, force: true })
    })())
  const onSignal = (sig: NodeJS.Signals) => {
    if (cleaning) return
    log(`${sig}: cleaning up`)
    cleanup().then(
      () => process.exit(130),
      (err: unknown) => {
        const e = asLatchError(err)
        process.stderr.write(`cleanup failed: ${e.code}: ${e.message}\n`)
        process.exit(130)
      },
    )
  }
  // `on`, not `once`: execa's exit hook re-raises a signal nobody else listens to any more,
  // which would end the process in the middle of the clean-up
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const lab = await labSession(log)
    session = lab
    await labLatchOff(lab)
    const plan = lab.plan
    const nsFiles = labNamespaceFiles(plan)
    const client = workload(plan, 'node1-w1')
    const server = workload(plan, 'node2-w1')
    const startServers = async (): Promise<number[]> => [
      (await startIn(plan, server.name, nodeTool(ECHO_SERVER, ['--port', String(PORTS.echo)]), 'ready')).pid,
      (
        await startIn(
          plan,
          server.name,
          ['iperf3', '-s', '-p', String(PORTS.iperf), '--forceflush'],
          'Server listening',
        )
      ).pid,
    ]
    let servers = await startServers()
    const direct: Path = {
      client: client.name,
      host: server.ip,
      echoPort: PORTS.echo,
      iperfPort: PORTS.iperf,
      udp: true,
    }

    await requirePath(plan, direct, 'plaintext', 10_000)
    results.push(await measureSetup(plan, 'plaintext', direct, cfg, nsFiles, log))

    const proxies = await startSidecars(plan, client, server, [
      {
        name: 'echo',
        localPort: PORTS.sidecarEcho.local,
        tlsPort: PORTS.sidecarEcho.tls,
        serverPort: PORTS.echo,
      },
      {
        name: 'iperf',
        localPort: PORTS.sidecarIperf.local,
        tlsPort: PORTS.sidecarIperf.tls,
        serverPort: PORTS.iperf,
      },
    ])
    const viaSidecar: Path = {
      client: client.name,
      host: '127.0.0.1',
      echoPort: PORTS.sidecarEcho.local,
      iperfPort: PORTS.sidecarIperf.local,
      udp: false,
    }
    await requirePath(plan, viaSidecar, 'sidecar', 10_000)
    results.push(await measureSetup(plan, 'sidecar', viaSidecar, cfg, nsFiles, log))
    for (const pid of proxies) await stop(pid)

    // The route MTU a CNI gives workloads behind a tunnel (the tunnel's): see the 1500 check below.
    const mtuWorkloads = [client, server, workload(plan, 'node1-w2')]
    for (const [i, v] of variants.entries()) {
      if (i === 0) await labLatchOn(lab, v)
      else {
        for (const pid of servers) await stop(pid)
        await labLatchSwitch(lab, v)
        servers = await startServers()
      }
      await requirePath(plan, direct, v.name, 30_000)
      await setWorkloadRouteMtu(mtuWorkloads, LAB_TUNNEL_MTU)
      const tun = await tunOffloads(plan)
      log(`${v.name}: ${v.wireguardGo} ${v.version}, TUN ${JSON.stringify(tun[0]?.features ?? {})}`)
      const r = await measureSetup(plan, v.name, direct, cfg, nsFiles, log)
      const rss = await latchdPeakRss(plan)
      results.push({ ...r, latch: { transport: v, tunOffloads: tun, latchdPeakRssMiB: rss } })
      if (i === 0) {
        latchdPeakRssMiB = rss
        first = await firstConnect(
          plan,
          workload(plan, 'node1-w2'),
          server,
          PORTS.echo,
          cfg.firstConnectReps,
          log,
        )
      }
    }
    // Last (a black hole leaves stuck sockets behind): bulk TCP with the lab's own 1500-byte
    // workload routes, which needs path-MTU discovery to work through the mesh.
    await setWorkloadRouteMtu(mtuWorkloads, undefined)
    const at1500 = await bulk(plan, direct, { ...cfg, iperfSeconds: 1 }, nsFiles).then(
      (r) => r.gbitPerSecond,
      () => 0,
    )
    pmtu = {
      routeMtu: LAB_TUNNEL_MTU,
      workloads: mtuWorkloads.map((w) => w.name),
      gbitPerSecondAt1500: at1500,
    }
    notes.push(
      `latch was measured with route MTU ${LAB_TUNNEL_MTU} on ${pmtu.workloads.join(', ')}; ` +
        `${variants.length > 1 ? `(${variants[variants.length - 1]!.name}) ` : ''}` +
        `with the lab's 1500 it moved ${at1500.toFixed(2)} Gbit/s in 1 s${at1500 < 0.01 ? ' (path-MTU discovery fails through the mesh)' : ''}`,
    )
    log(notes[notes.length - 1]!)
  } finally {
    await cleanup()
  }
  log(`WireGuard peers ${cfg.wgSizes.join(', ')}: batched vs one wg set per peer`)
  const wg = await wgPeers(cfg.wgSizes)
  log(`ipcache: ${cfg.ipcacheEntries} entries batched vs one by one`)
  const ipcache = await ipcacheWrites(cfg.ipcacheEntries)
  log(`policies of ${cfg.policyRules.join(', ')} rules loaded into the pinned maps`)
  const policies = await policyLoad(cfg.policyRules)
  const latchAlone = { latchdPeakRssMiB, firstConnect: first, wg, ipcache, policies }

  const rank = (n: string) => (n === 'plaintext' ? 0 : n === 'sidecar' ? 2 : 1)
  results.sort((a, b) => rank(a.setup) - rank(b.setup)) // stable: latch variants keep their order
  const tables = [setupsTable(results), latchAloneTable(latchAlone)]
  process.stdout.write(`\n${tables.join('\n\n')}\n${notes.map((n) => `note: ${n}\n`).join('')}\n`)
  await mkdir(dirname(jsonFile), { recursive: true })
  const doc = {
    date: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - t0) / 1000),
    machine: await machine(),
    config: cfg,
    latchTransports: variants,
    path: { client: 'node1-w1 (10.100.1.11)', server: 'node2-w1 (10.100.2.11)' },
    notes,
    latchPathMtu: pmtu ?? null,
    setups: results,
    latchAlone,
    tables,
  }
  await writeFile(jsonFile, `${JSON.stringify(doc)}\n`)
  log(`wrote ${jsonFile} (${doc.durationSeconds} s)`)
}

try {
  await main()
} catch (err) {
  const e = asLatchError(err)
  process.stderr.write(`error ${e.code}: ${e.message}\n  fix: ${e.fix}\n`)
  process.exitCode = e.exitCode
}

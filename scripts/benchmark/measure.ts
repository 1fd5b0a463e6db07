/**
 * The figures of one setup between two workloads on different nodes, with the same tools for
 * every setup: TCP request/response on one open connection (1 B and 1 KiB), UDP request/response
 * and loss (where the setup carries UDP), new connections per second (connect + 1 request +
 * close), bulk TCP (iperf3 -J), and CPU of all the setup's processes per GB moved (bulk phase).
 */

import type { LabPlan } from '../../daemon/lab/plan.js'
import type { BenchConfig } from './config.js'
import { type CpuDelta, cpuDelta, snapshot } from './cpu-meter.js'
import type { ClientResult, ConnRateResult, TcpRrResult, UdpRrResult } from './load/protocol.js'
import { LOAD_CLIENT } from './paths.js'
import { nodeTool, runIn, toolFailed } from './procs.js'
import { round1, type Summary, summarize } from './stats.js'
import type { LatchVariant, TunOffloads } from './transports.js'

/** `plaintext`, `sidecar`, and one `latch…` per compared transport (scripts/benchmark/transports.ts). */
export type SetupName = string

export interface Path {
  client: string
  /** Where the client connects: the server workload, or its local sidecar. */
  host: string
  echoPort: number
  iperfPort: number
  udp: boolean
}

export interface TcpRr {
  size: number
  latencyUs: Summary
  samplesUs: number[]
}

export interface UdpRr {
  size: number
  latencyUs: Summary
  sent: number
  lost: number
  lossPct: number
  samplesUs: number[]
}

export interface Throughput {
  gbitPerSecond: number
  bytes: number
  seconds: number
  retransmits: number
  intervalsGbit: number[]
  cpu: CpuDelta
  /** CPU seconds of the setup's processes per GB (1e9 bytes) received. */
  cpuSecondsPerGB: number
  /** Machine-wide kernel system + irq/softirq seconds per GB (not per process). */
  kernelSecondsPerGB: number
}

export interface SetupResult {
  setup: SetupName
  tcp: TcpRr[]
  udp: UdpRr | null
  connRate: { perSecond: number; count: number; latencyUs: Summary; samplesUs: number[] }
  throughput: Throughput
  /** latch setups: what carried it (wireguard-go build, offloads, the TUN's features) and latchd's peak RSS. */
  latch?: {
    transport: LatchVariant
    tunOffloads: TunOffloads[]
    latchdPeakRssMiB: Record<string, number>
  }
}

async function client<T extends ClientResult>(
  plan: LabPlan,
  path: Path,
  mode: T['mode'],
  args: string[],
): Promise<T> {
  const argv = nodeTool(LOAD_CLIENT, [mode, '--host', path.host, ...args])
  const out = await runIn(plan, path.client, argv, 300_000)
  const last = out.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(last) as T
  } catch {
    throw toolFailed(path.client, argv, `printed no result: ${out.slice(-500)}`)
  }
}

const r1 = (xs: number[]) => xs.map(round1)

export async function measureSetup(
  plan: LabPlan,
  setup: SetupName,
  path: Path,
  cfg: BenchConfig,
  nsFiles: string[],
  log: (line: string) => void,
): Promise<SetupResult> {
  const port = ['--port', String(path.echoPort)]
  const tcp: TcpRr[] = []
  for (const size of cfg.tcpSizes) {
    const r = await client<TcpRrResult>(plan, path, 'tcp-rr', [
      ...port,
      '--size',
      String(size),
      '--count',
      String(cfg.tcpCount),
      '--warmup',
      String(cfg.warmup),
    ])
    tcp.push({
      size,
      latencyUs: summarize(r.latenciesUs),
      samplesUs: r1(r.latenciesUs),
    })
    log(`  ${setup}: tcp ${size} B p50 ${summarize(r.latenciesUs).p50.toFixed(0)} µs`)
  }
  let udp: UdpRr | null = null
  if (path.udp) {
    const r = await client<UdpRrResult>(plan, path, 'udp-rr', [
      ...port,
      '--size',
      String(cfg.udpSize),
      '--count',
      String(cfg.udpCount),
      '--timeout-ms',
      String(cfg.udpTimeoutMs),
    ])
    udp = {
      size: r.size,
      latencyUs: summarize(r.latenciesUs),
      sent: r.sent,
      lost: r.lost,
      lossPct: (100 * r.lost) / r.sent,
      samplesUs: r1(r.latenciesUs),
    }
    log(`  ${setup}: udp p50 ${udp.latencyUs.p50.toFixed(0)} µs, lost ${r.lost}/${r.sent}`)
  }
  const c = await client<ConnRateResult>(plan, path, 'conn-rate', [...port, '--count', String(cfg.connCount)])
  const connRate = {
    perSecond: c.count / c.seconds,
    count: c.count,
    latencyUs: summarize(c.latenciesUs),
    samplesUs: r1(c.latenciesUs),
  }
  log(`  ${setup}: ${connRate.perSecond.toFixed(0)} new connections/s`)
  const throughput = await bulk(plan, path, cfg, nsFiles)
  log(
    `  ${setup}: ${throughput.gbitPerSecond.toFixed(2)} Gbit/s, ${throughput.cpuSecondsPerGB.toFixed(2)} CPU s/GB`,
  )
  return { setup, tcp, udp, connRate, throughput }
}

interface IperfJson {
  error?: string
  intervals?: Array<{ sum?: { bits_per_second?: number } }>
  end?: {
    sum_sent?: { bytes?: number; retransmits?: number; seconds?: number }
    sum_received?: { bytes?: number; bits_per_second?: number; seconds?: number }
  }
}

export async function bulk(
  plan: LabPlan,
  path: Path,
  cfg: BenchConfig,
  nsFiles: string[],
): Promise<Throughput> {
  const argv = ['iperf3', '-c', path.host, '-p', String(path.iperfPort), '-t', String(cfg.iperfSeconds), '-J']
  const before = await snapshot(nsFiles)
  const out = await runIn(plan, path.client, argv, (cfg.iperfSeconds + 30) * 1000)
  const cpu = cpuDelta(before, await snapshot(nsFiles))
  const j = JSON.parse(out) as IperfJson
  const recv = j.end?.sum_received
  if (j.error || !recv?.bytes) {
    throw toolFailed(path.client, argv, j.error ?? `no bytes received (sent ${j.end?.sum_sent?.bytes ?? 0})`)
  }
  const gb = recv.bytes / 1e9
  return {
    gbitPerSecond: (recv.bits_per_second ?? 0) / 1e9,
    bytes: recv.bytes,
    seconds: recv.seconds ?? cfg.iperfSeconds,
    retransmits: j.end?.sum_sent?.retransmits ?? 0,
    intervalsGbit: (j.intervals ?? []).map((i) => Math.round((i.sum?.bits_per_second ?? 0) / 1e7) / 100),
    cpu,
    cpuSecondsPerGB: cpu.processSeconds / gb,
    kernelSecondsPerGB: (cpu.kernelSystemSeconds + cpu.kernelIrqSeconds) / gb,
  }
}

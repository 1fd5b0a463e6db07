/** How much the benchmark measures: a full run (~15 min budget) or --quick (~2 min, CI). */

export interface BenchConfig {
  quick: boolean
  /** Requests per TCP request/response run (after `warmup`), per message size. */
  tcpCount: number
  warmup: number
  tcpSizes: number[]
  udpCount: number
  udpSize: number
  udpTimeoutMs: number
  /** connect + 1 request + close, sequentially. */
  connCount: number
  iperfSeconds: number
  /** Policy edits (allow, measure, revoke) for the first-connection time. */
  firstConnectReps: number
  /** WireGuard peer counts programmed batched and one `wg set` per peer. */
  wgSizes: number[]
  ipcacheEntries: number
  /** Policy sizes (rules) loaded the way latchd loads them (scripts/bench-policy-load). */
  policyRules: number[]
}

export const FULL: BenchConfig = {
  quick: false,
  tcpCount: 10_000,
  warmup: 500,
  tcpSizes: [1, 1024],
  udpCount: 5000,
  udpSize: 64,
  udpTimeoutMs: 200,
  connCount: 2000,
  iperfSeconds: 10,
  firstConnectReps: 3,
  wgSizes: [1000, 10_000],
  ipcacheEntries: 100_000,
  policyRules: [10_000, 100_000],
}

export const QUICK: BenchConfig = {
  ...FULL,
  quick: true,
  tcpCount: 1000,
  warmup: 100,
  udpCount: 500,
  connCount: 200,
  iperfSeconds: 2,
  firstConnectReps: 1,
  wgSizes: [1000],
  policyRules: [10_000],
}

/** Ports inside the server workload (and, for the sidecar, the proxies'). */
export const PORTS = {
  echo: 7000,
  iperf: 5201,
  sidecarEcho: { local: 17000, tls: 17443 },
  sidecarIperf: { local: 15201, tls: 15443 },
} as const

/** What the load client measures and reports (shared by bench/load/client.ts and the harness). */

export type ClientMode = 'tcp-rr' | 'udp-rr' | 'conn-rate' | 'probe' | 'first-connect'

export interface TcpRrResult {
  mode: 'tcp-rr'
  size: number
  /** One round trip per request on one open connection, µs, warm-up excluded. */
  latenciesUs: number[]
}

export interface UdpRrResult {
  mode: 'udp-rr'
  size: number
  latenciesUs: number[]
  sent: number
  lost: number
}

export interface ConnRateResult {
  mode: 'conn-rate'
  count: number
  seconds: number
  /** connect + 1-byte request/response + close, µs each. */
  latenciesUs: number[]
}

export interface ProbeResult {
  mode: 'probe'
  ok: boolean
  ms: number
  attempts: number
}

export interface FirstConnectResult {
  mode: 'first-connect'
  /** Epoch ms (sub-ms precision) when the client was told to go. */
  goAt: number
  /** One connect() issued at go, left to the kernel's SYN retransmits; epoch ms, null if none. */
  singleConnectAt: number | null
  /** A fresh connect every 10 ms from go until one completes; epoch ms, null if none. */
  retryConnectAt: number | null
}

export type ClientResult = TcpRrResult | UdpRrResult | ConnRateResult | ProbeResult | FirstConnectResult

/** Epoch milliseconds with sub-millisecond precision, comparable across processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * Prometheus metrics of latchd (prom-client, own registry): handshakes by result, handshake latency,
 * peers by state, WireGuard bytes per peer, and — when the eBPF datapath runs — packets and bytes by
 * verdict/reason from its per-CPU `stats` map, auth entries and identities. Served on the optional
 * `metrics:` listener; kernel counters are read at scrape time.
 */
import { createServer } from 'node:http'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { GuardedListener } from '../base/conn-guard.js'
import { type GuardOptions, guardOrDefault } from '../base/guard-options.js'

export interface PeerStateCounts {
  /** state → number of peers in it */
  [state: string]: number
}

export interface WireguardBytes {
  peer: string
  rxBytes: number
  txBytes: number
}

/** What the datapath reports at scrape time (a subset of wire/status.ts DatapathReport). */
export interface DatapathCounters {
  authEntries: number
  identities: number
  remoteIdentities: number
  /** summed over CPUs, one row per reason */
  stats: ReadonlyArray<{ reason: string; verdict: string; packets: number; bytes: number }>
}

export interface MetricsSources {
  peerStates: () => PeerStateCounts
  wireguardBytes: () => Promise<WireguardBytes[]>
  /** undefined when the datapath is disabled */
  datapath?: () => DatapathCounters | undefined
  /** Open connections per listener (daemon/base/conn-guard.ts). */
  listeners?: () => ReadonlyArray<{ listener: string; open: number; unauthenticated: number }>
}

export interface MetricsListener {
  port: number
  counts(): { open: number; unauthenticated: number }
  close(): Promise<void>
}

export class DaemonMetrics {
  readonly registry = new Registry()
  readonly handshakes: Counter<'result' | 'reason' | 'role'>
  readonly handshakeSeconds: Histogram<'role'>
  readonly shed: Counter<'listener' | 'reason' | 'refused'>
  readonly acceptErrors: Counter<'listener' | 'code'>

  constructor(sources: MetricsSources) {
    const registers = [this.registry]
    this.handshakes = new Counter({
      name: 'latch_handshakes_total',
      help: 'Node handshakes by result (ok, refused) and refusal reason',
      labelNames: ['result', 'reason', 'role'],
      registers,
    })
    this.handshakeSeconds = new Histogram({
      name: 'latch_handshake_duration_seconds',
      help: 'Time from TCP connect to an established session',
      labelNames: ['role'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    new Gauge({
      name: 'latch_peers',
      help: 'Peers by state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset()
        for (const [state, n] of Object.entries(sources.peerStates())) this.set({ state }, n)
      },
    })
    new Gauge({
      name: 'latch_wireguard_peer_bytes',
      help: 'WireGuard bytes per peer and direction',
      labelNames: ['peer', 'direction'],
      registers,
      async collect() {
        this.reset()
        for (const p of await sources.wireguardBytes().catch(() => [])) {
          this.set({ peer: p.peer, direction: 'rx' }, p.rxBytes)
          this.set({ peer: p.peer, direction: 'tx' }, p.txBytes)
        }
      },
    })
    const datapath = (): DatapathCounters | undefined => {
      try {
        return sources.datapath?.()
      } catch {
        return undefined
      }
    }
    for (const unit of ['packets', 'bytes'] as const) {
      new Gauge({
        name: `latch_datapath_${unit}`,
        help: `${unit} seen by the eBPF programs since they were loaded, by verdict (pass, drop, event) and reason (kernel counter)`,
        labelNames: ['verdict', 'reason'],
        registers,
        collect() {
          this.reset()
          for (const r of datapath()?.stats ?? []) this.set({ verdict: r.verdict, reason: r.reason }, r[unit])
        },
      })
    }
    new Gauge({
      name: 'latch_auth_entries',
      help: 'Authenticated identity pairs in the eBPF auth map (one per direction)',
      registers,
      collect() {
        const d = datapath()
        if (d) this.set(d.authEntries)
      },
    })
    new Gauge({
      name: 'latch_identities',
      help: 'SPIFFE IDs with an identity id in the datapath, by scope',
      labelNames: ['scope'],
      registers,
      collect() {
        this.reset()
        const d = datapath()
        if (!d) return
        this.set({ scope: 'remote' }, d.remoteIdentities)
        this.set({ scope: 'all' }, d.identities)
      },
    })
    this.shed = new Counter({
      name: 'latch_connections_shed_total',
      help: 'Connections a listener closed before they authenticated (refused="true": the new one, nothing older to shed), by reason',
      labelNames: ['listener', 'reason', 'refused'],
      registers,
    })
    this.acceptErrors = new Counter({
      name: 'latch_accept_errors_total',
      help: 'accept() failures by listener and errno code (EMFILE: out of file descriptors)',
      labelNames: ['listener', 'code'],
      registers,
    })
    new Gauge({
      name: 'latch_listener_connections',
      help: 'Open connections per listener, by state (authenticated, unauthenticated)',
      labelNames: ['listener', 'state'],
      registers,
      collect() {
        this.reset()
        for (const l of sources.listeners?.() ?? []) {
          this.set({ listener: l.listener, state: 'unauthenticated' }, l.unauthenticated)
          this.set({ listener: l.listener, state: 'authenticated' }, l.open - l.unauthenticated)
        }
      },
    })
    collectDefaultMetrics({ register: this.registry, prefix: 'latchd_' })
  }

  /** Whether /readyz answers 200: set once start-up has finished, cleared when latchd stops. */
  ready = false

  handshakeDone(role: 'client' | 'server', result: 'ok' | 'refused', reason: string, seconds?: number): void {
    this.handshakes.inc({ result, reason, role })
    if (seconds !== undefined) this.handshakeSeconds.observe({ role }, seconds)
  }

  connectionShed(listener: string, reason: string, refused: boolean): void {
    this.shed.inc({ listener, reason, refused: String(refused) })
  }

  acceptFailed(listener: string, code: string): void {
    this.acceptErrors.inc({ listener, code })
  }

  /**
   * Serve GET /metrics (and /healthz, /readyz for probes) on address:port through a bounded listener (a connection that has not sent
   * a request by the deadline is closed). Resolves once listening, with what closes it.
   */
  async listen(address: string, port: number, guard?: GuardOptions): Promise<MetricsListener> {
    let listener: GuardedListener | undefined
    const server = createServer((req, res) => {
      listener?.authenticated(req.socket)
      const path = (req.url ?? '/').split('?')[0]
      if (req.method === 'GET' && path === '/healthz') {
        // the event loop answers: the process is alive (a liveness probe)
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
        return
      }
      if (req.method === 'GET' && path === '/readyz') {
        // start-up finished (WireGuard up, datapath loaded, policy compiled) and not stopping
        res
          .writeHead(this.ready ? 200 : 503, { 'content-type': 'text/plain' })
          .end(this.ready ? 'ready\n' : 'starting or stopping\n')
        return
      }
      if (req.method !== 'GET' || path !== '/metrics') {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end('not found; try /metrics, /healthz or /readyz\n')
        return
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      )
    })
    const g = guardOrDefault(guard, 'metrics', 10_000)
    server.headersTimeout = g.limits.handshakeTimeoutMs
    server.requestTimeout = g.limits.handshakeTimeoutMs
    server.on('clientError', (_err, socket) => socket.destroy())
    listener = new GuardedListener({ name: 'metrics', ...g, serve: (s) => server.emit('connection', s) })
    const bound = await listener.listen(address, port)
    const l = listener
    return {
      port: bound.port,
      counts: () => l.counts(),
      close: async () => {
        await l.close(true)
        server.close()
      },
    }
  }
}

/**
 * The pair-auth listener of a daemon: presents the SVID of the local workload each client asks for
 * (SNI → WorkloadCredentials; nothing else), judges the client's SVID against the constraints of the
 * node the connection comes from, and hands every outcome to `onOutcome`. It writes nothing.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { LatchError } from '../base/errors.js'
import type { WorkloadCredentials } from './credentials.js'
import { runPairExchange } from './exchange.js'
import { PairConnection } from './framed.js'
import { PAIR_ALPN } from './protocol.js'
import type { PairReason } from './reasons.js'
import { DEFAULT_PAIR_TIMING, type PairTiming } from './timing.js'
import type { NodeConstraints, PairOutcome, PairPolicy, TrustAnchor } from './types.js'

/** Bits of OpenSSL's SSL_OP_NO_TICKET: every pair authentication is a full handshake with certificates. */
const SSL_OP_NO_TICKET = 0x4000

export interface PairAuthServerOptions {
  trust: TrustAnchor
  /** The SVIDs of this node's workloads: the only certificates presented for a workload. */
  credentials: WorkloadCredentials
  /**
   * What completes TLS when the client asks for an identity this node does not host (then refused
   * with `unknown_identity`): this node's own certificate and key.
   */
  fallback: { certPem: string; keyPem: string }
  /** Which peer node a connection comes from, by its source (the peer's tunnel address), if any. */
  senderNode: (remote: { address: string; port: number }) => string | undefined
  /** The constraints of a peer node from its node session, if there is one. */
  constraintsFor: (node: string) => NodeConstraints | undefined
  /** The policy in force (called per connection, so a reload applies to the next handshake). */
  policy: () => PairPolicy
  ttlMs: number
  onOutcome: (outcome: PairOutcome) => void
  /** A connection that failed before TLS completed. */
  onTlsError?: (err: Error, remote: string) => void
  timing?: PairTiming
  now?: () => Date
}

export class PairAuthServer {
  readonly #server: Server
  readonly #sockets = new Set<TLSSocket>()
  readonly #o: PairAuthServerOptions
  readonly #timing: PairTiming

  constructor(o: PairAuthServerOptions) {
    this.#o = o
    this.#timing = o.timing ?? DEFAULT_PAIR_TIMING
    const credentials = o.credentials
    this.#server = createServer({
      ca: o.trust.rootPem,
      cert: o.fallback.certPem,
      key: o.fallback.keyPem,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      SNICallback: (name, cb) => cb(null, credentials.byServerName(name)?.context),
      ALPNProtocols: [PAIR_ALPN],
      requestCert: true,
      rejectUnauthorized: false,
      secureOptions: SSL_OP_NO_TICKET,
      handshakeTimeout: this.#timing.handshakeTimeoutMs,
      noDelay: true,
    })
    this.#server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket))
    this.#server.on('tlsClientError', (err, socket) => {
      o.onTlsError?.(err, `${socket.remoteAddress}:${socket.remotePort}`)
    })
  }

  #accept(socket: TLSSocket): void {
    const startedAt = Date.now()
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
    const o = this.#o
    const credential = o.credentials.byServerName(socket.servername)
    const node = o.senderNode({ address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 })
    const refuse = (reason: PairReason, message: string) => {
      new PairConnection(socket).close({ type: 'refuse', reason, message })
      o.onOutcome({
        ok: false,
        role: 'server',
        local: credential?.spiffeId,
        remote: undefined,
        remoteNode: node,
        reason,
        message,
        by: 'local',
        durationMs: Date.now() - startedAt,
      })
    }
    if (socket.alpnProtocol !== PAIR_ALPN) {
      socket.destroy()
      return
    }
    const constraints = node === undefined ? undefined : o.constraintsFor(node)
    if (credential === undefined) {
      refuse('unknown_identity', `this node hosts no workload for server name ${socket.servername}`)
      return
    }
    if (node === undefined || constraints === undefined) {
      refuse(
        'unknown_node',
        node === undefined
          ? `${socket.remoteAddress} is not the tunnel address of a peer node`
          : `no node session with ${node}: its constraints are unknown`,
      )
      return
    }
    runPairExchange({
      socket,
      role: 'server',
      trust: o.trust,
      local: credential.spiffeId,
      node,
      constraints,
      policy: o.policy(),
      ttlMs: o.ttlMs,
      deadline: startedAt + this.#timing.handshakeTimeoutMs,
      startedAt,
      now: o.now ?? (() => new Date()),
    }).then((outcome) => o.onOutcome(outcome))
  }

  /** Listen on `address` (the node's tunnel address) and `port`; resolves with the bound address. */
  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          new LatchError(
            'LATCH_ERR_DAEMON_LISTEN_FAILED',
            `the pair-auth listener cannot bind ${address}:${port} (${err.code ?? err.message})`,
            { cause: err, details: { address, port } },
          ),
        )
      this.#server.once('error', onError)
      this.#server.listen(port, address, () => {
        this.#server.off('error', onError)
        const a = this.#server.address()
        resolve(typeof a === 'object' && a ? { address: a.address, port: a.port } : { address, port })
      })
    })
  }

  /** Stop accepting; with `dropConnections`, also destroy the connections in flight. */
  close(dropConnections = false): Promise<void> {
    if (dropConnections) for (const s of this.#sockets) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }
}

export function createPairAuthServer(o: PairAuthServerOptions): PairAuthServer {
  return new PairAuthServer(o)
}

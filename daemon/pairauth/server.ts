/**
 * The pair-auth listener of a daemon: presents the SVID of the local workload each client asks for
 * (SNI → WorkloadCredentials; nothing else), judges the client's SVID against the constraints of the
 * node the connection comes from, and hands every outcome to `onOutcome`. It writes nothing.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { GuardedListener } from '../base/conn-guard.js'
import { LatchError } from '../base/errors.js'
import { type GuardOptions, guardOrDefault } from '../base/guard-options.js'
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
  /** Admission limits (default: the defaults, with a budget of its own). */
  guard?: GuardOptions
  /**
   * Accept only connections that arrived through this interface (the WireGuard interface): the
   * listening socket is bound to it (SO_BINDTODEVICE), so the kernel answers a SYN from anywhere
   * else with a reset. Undefined: any interface (tests on loopback).
   */
  bindToDevice?: (fd: number) => void
}

export class PairAuthServer {
  readonly #server: Server
  readonly #listener: GuardedListener
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
      // with a listener, node:tls leaves the socket open: close it
      socket.destroy()
      o.onTlsError?.(err, `${socket.remoteAddress}:${socket.remotePort}`)
    })
    const g = guardOrDefault(o.guard, 'pairAuth', this.#timing.handshakeTimeoutMs)
    this.#listener = new GuardedListener({
      name: 'pair_auth',
      ...g,
      serve: (s) => this.#server.emit('connection', s),
      // a TLS session only for a connection that sent its ClientHello
      serveOnFirstData: true,
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
      // the SVID presented (chosen by SNI a moment ago; a renewal in between has a later notAfter)
      ownNotAfter: credential.notAfter.getTime(),
      node,
      constraints,
      // the running policy when the verdict is made, not when the connection came: a reload during
      // the (slow) TLS handshake counts
      policy: { pairAllowed: (a, b) => o.policy().pairAllowed(a, b) },
      ttlMs: o.ttlMs,
      deadline: startedAt + this.#timing.handshakeTimeoutMs,
      startedAt,
      now: o.now ?? (() => new Date()),
    }).then((outcome) => {
      if (outcome.ok) this.#listener.authenticated(socket)
      o.onOutcome(outcome)
    })
  }

  /** Listen on `address` (the node's tunnel address) and `port`; resolves with the bound address. */
  /** A new trust bundle or node fallback certificate (hot reload): for the next handshakes. */
  setTrust(rootPem: string, fallback: { certPem: string; keyPem: string }): void {
    this.#server.setSecureContext({
      ca: rootPem,
      cert: fallback.certPem,
      key: fallback.keyPem,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
    })
  }

  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          err instanceof LatchError
            ? err
            : new LatchError(
                'LATCH_ERR_DAEMON_LISTEN_FAILED',
                `the pair-auth listener cannot bind ${address}:${port} (${err.code ?? err.message})`,
                { cause: err, details: { address, port } },
              ),
        )
      this.#listener.listen(address, port).then((bound) => {
        try {
          const fd = this.#listener.fd
          if (this.#o.bindToDevice && fd !== undefined) this.#o.bindToDevice(fd)
          else if (this.#o.bindToDevice) throw new Error('the listening socket has no file descriptor')
        } catch (err) {
          void this.#listener.close()
          onError(err as NodeJS.ErrnoException)
          return
        }
        resolve(bound)
      }, onError)
    })
  }

  /** Open connections, and how many of them have no verdict yet. */
  counts(): { open: number; unauthenticated: number } {
    return this.#listener.counts()
  }

  /** Stop accepting; with `dropConnections`, also destroy the connections in flight. */
  close(dropConnections = false): Promise<void> {
    if (dropConnections) for (const s of this.#sockets) s.destroy()
    return this.#listener.close(dropConnections)
  }
}

export function createPairAuthServer(o: PairAuthServerOptions): PairAuthServer {
  return new PairAuthServer(o)
}

/**
 * The handshake listener: accepts TLS 1.3 connections from peer nodes, runs the exchange, and hands
 * every outcome (session or refusal) to `onOutcome`. It decides nothing else.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls'
import { GuardedListener } from '../base/conn-guard.js'
import { type GuardOptions, guardOrDefault } from '../base/guard-options.js'
import { runExchange } from './exchange.js'
import { DEFAULT_TIMING, type HandshakeTiming } from './timing.js'
import { tlsContextOptions } from './tls-options.js'
import type { HandshakeOutcome, LocalNode } from './types.js'

export interface HandshakeServerOptions {
  local: LocalNode
  /** Whether an authenticated node may connect (it is in our peers file). */
  isKnownPeer: (node: string) => boolean
  /** Whether the peers are loaded (until then an unknown node is told `starting`; see exchange.ts). */
  peersLoaded?: () => boolean
  /** The certificate fingerprint a node's registration names (etcd discovery), if any. */
  registeredFingerprint?: (node: string) => string | undefined
  onOutcome: (outcome: HandshakeOutcome) => void
  /** A connection that failed before TLS completed (no peer attributable). */
  onTlsError?: (err: Error, remote: string) => void
  timing?: HandshakeTiming
  /** Admission limits (default: the defaults, with a budget of its own). */
  guard?: GuardOptions
}

export class HandshakeServer {
  readonly #server: Server
  readonly #listener: GuardedListener
  readonly #sockets = new Set<TLSSocket>()
  readonly #opts: HandshakeServerOptions

  constructor(opts: HandshakeServerOptions) {
    this.#opts = opts
    const timing = opts.timing ?? DEFAULT_TIMING
    this.#server = createServer({
      ...tlsContextOptions(opts.local),
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: timing.handshakeTimeoutMs,
    })
    this.#server.on('secureConnection', (socket: TLSSocket) => {
      this.#sockets.add(socket)
      socket.once('close', () => this.#sockets.delete(socket))
      runExchange({
        socket,
        local: this.#opts.local,
        role: 'server',
        isKnownPeer: (n) => this.#opts.isKnownPeer(n),
        ...(this.#opts.peersLoaded && { peersLoaded: this.#opts.peersLoaded }),
        registeredFingerprint: (n) => this.#opts.registeredFingerprint?.(n),
        timing,
        startedAt: Date.now(),
      }).then((outcome) => {
        if (outcome.ok) this.#listener.authenticated(socket)
        this.#opts.onOutcome(outcome)
      })
    })
    this.#server.on('tlsClientError', (err, socket) => {
      // with a listener, node:tls leaves the socket open (issue 11: idle sockets kept for ever)
      socket.destroy()
      this.#opts.onTlsError?.(err, `${socket.remoteAddress}:${socket.remotePort}`)
    })
    const g = guardOrDefault(opts.guard, 'node', timing.handshakeTimeoutMs)
    this.#listener = new GuardedListener({
      name: 'node',
      ...g,
      serve: (s) => this.#server.emit('connection', s),
      // a TLS session only for a connection that sent its ClientHello
      serveOnFirstData: true,
    })
  }

  /** Replace what this node presents (e.g. renewed certificate); applies to new connections. */
  setLocal(local: LocalNode): void {
    this.#opts.local = local
    this.#server.setSecureContext(tlsContextOptions(local))
  }

  listen(address: string, port: number): Promise<{ address: string; port: number }> {
    return this.#listener.listen(address, port)
  }

  /** Open connections, and how many of them have not authenticated yet. */
  counts(): { open: number; unauthenticated: number } {
    return this.#listener.counts()
  }

  /** Stop accepting; with `dropConnections`, also destroy every connection it accepted. */
  close(dropConnections = false): Promise<void> {
    if (dropConnections) for (const s of this.#sockets) s.destroy()
    return this.#listener.close(dropConnections)
  }
}

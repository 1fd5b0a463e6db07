/**
 * Dialing a peer node: TCP + TLS 1.3 with our node certificate, then the exchange. Resolves with an
 * established session or a refusal (ours, the peer's, or the transport's); never rejects.
 */
import { connect } from 'node:tls'
import { formatEndpoint } from '../config/net.js'
import { runExchange } from './exchange.js'
import { DEFAULT_TIMING, type HandshakeTiming } from './timing.js'
import { tlsContextOptions } from './tls-options.js'
import type { HandshakeOutcome, LocalNode } from './types.js'

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EPIPE',
])

export interface DialTarget {
  name: string
  address: string
  port: number
}

export interface DialOptions {
  local: LocalNode
  peer: DialTarget
  timing?: HandshakeTiming
}

export function dialPeer(o: DialOptions): Promise<HandshakeOutcome> {
  const timing = o.timing ?? DEFAULT_TIMING
  const startedAt = Date.now()
  return new Promise<HandshakeOutcome>((resolve) => {
    let done = false
    const socket = connect({
      ...tlsContextOptions(o.local),
      host: o.peer.address,
      port: o.peer.port,
      rejectUnauthorized: false,
      // identity is the SPIFFE ID (checked in the exchange), not a DNS name
      checkServerIdentity: () => undefined,
    })
    const fail = (reason: 'tls_failed' | 'timeout' | 'unreachable', message: string) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({
        ok: false,
        role: 'client',
        peer: o.peer.name,
        peerUnverified: false,
        refusal: { reason, message, by: 'transport' },
        durationMs: Date.now() - startedAt,
      })
    }
    const timer = setTimeout(
      () =>
        fail(
          'timeout',
          `no TLS connection to ${formatEndpoint(o.peer.address, o.peer.port)} after ${timing.handshakeTimeoutMs} ms`,
        ),
      timing.handshakeTimeoutMs,
    )
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const where = formatEndpoint(o.peer.address, o.peer.port)
      const unreachable = err.code !== undefined && UNREACHABLE.has(err.code)
      fail(unreachable ? 'unreachable' : 'tls_failed', `${where}: ${err.message}`)
    })
    socket.once('secureConnect', () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.removeAllListeners('error')
      runExchange({
        socket,
        local: o.local,
        role: 'client',
        expectedNode: o.peer.name,
        timing,
        startedAt,
      }).then(resolve)
    })
  })
}

/**
 * Dialing a peer node: TCP + TLS 1.3 with our node certificate, then the exchange. Resolves with an
 * established session or a refusal (ours, the peer's, or the transport's); never rejects.
 */
import { formatEndpoint } from '../config/net.js'
import { dialTls } from './dial.js'
import { runExchange } from './exchange.js'
import { DEFAULT_TIMING, type HandshakeTiming } from './timing.js'
import { tlsContextOptions } from './tls-options.js'
import type { HandshakeOutcome, LocalNode } from './types.js'

export interface DialTarget {
  name: string
  address: string
  port: number
  /** The certificate fingerprint the peer's registration names (etcd discovery); checked. */
  fingerprint?: string
}

export interface DialOptions {
  local: LocalNode
  peer: DialTarget
  timing?: HandshakeTiming
}

export async function dialPeer(o: DialOptions): Promise<HandshakeOutcome> {
  const timing = o.timing ?? DEFAULT_TIMING
  const startedAt = Date.now()
  const dialed = await dialTls(
    {
      ...tlsContextOptions(o.local),
      host: o.peer.address,
      port: o.peer.port,
      rejectUnauthorized: false,
      // identity is the SPIFFE ID (checked in the exchange), not a DNS name
      checkServerIdentity: () => undefined,
    },
    { timeoutMs: timing.handshakeTimeoutMs, where: formatEndpoint(o.peer.address, o.peer.port) },
  )
  if (!dialed.ok) {
    return {
      ok: false,
      role: 'client',
      peer: o.peer.name,
      peerUnverified: false,
      refusal: { reason: dialed.reason, message: dialed.message, by: 'transport' },
      durationMs: Date.now() - startedAt,
    }
  }
  return runExchange({
    socket: dialed.socket,
    local: o.local,
    role: 'client',
    expectedNode: o.peer.name,
    ...(o.peer.fingerprint !== undefined && {
      registeredFingerprint: () => o.peer.fingerprint,
    }),
    timing,
    startedAt,
  })
}

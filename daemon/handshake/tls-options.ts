/**
 * The TLS settings of every node connection, in one place: TLS 1.3 only, both sides present their
 * node certificate, our root is the only trust anchor, ALPN pins the protocol.
 *
 * `rejectUnauthorized` is false at the TLS layer on purpose, on both sides: node:tls would otherwise
 * abort with a bare alert, and neither side could tell its operator (or the peer) *why*. Instead the
 * exchange refuses, before a single protocol byte is accepted, every connection whose peer chain
 * node:tls did not authorize (`socket.authorized`) or that certs' verify() rejects, and sends the
 * typed reason to the peer. The trust decision is the same; only the error report is better.
 */
import type { SecureContextOptions } from 'node:tls'
import { ALPN } from './protocol.js'
import type { LocalNode } from './types.js'

export function tlsContextOptions(local: LocalNode): SecureContextOptions & {
  minVersion: 'TLSv1.3'
  maxVersion: 'TLSv1.3'
  ALPNProtocols: string[]
} {
  return {
    ca: local.rootPem,
    cert: local.certPem,
    key: local.keyPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: [ALPN],
  }
}

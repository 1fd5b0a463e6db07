/**
 * The node handshake: mutual TLS 1.3 between daemons, the hello exchange with its checks, the PSK
 * exporter, and the live control channel. Returns results; programs nothing.
 */
export { NodeChannel } from './channel.js'
export { checkHello, checkInventory, checkPeerCertificate } from './check-peer.js'
export { type DialOptions, type DialTarget, dialPeer } from './client.js'
export { ALPN, type Hello, PROTOCOL_VERSION, PSK_EXPORTER_LABEL, type WorkloadEntry } from './protocol.js'
export { derivePsk, pskContext } from './psk.js'
export { HANDSHAKE_REASONS, type Refusal, type RefusalBy, type RefusalReason } from './reasons.js'
export { HandshakeServer, type HandshakeServerOptions } from './server.js'
export { DEFAULT_TIMING, type HandshakeTiming } from './timing.js'
export type { HandshakeOutcome, LocalNode, NodeSession, PeerInfo } from './types.js'

/**
 * The WireGuard preshared key of a node pair: a TLS 1.3 exporter value (RFC 8446 §7.5) of the
 * connection that authenticated the pair, so a tunnel only exists between daemons that completed
 * mutual TLS, and every handshake yields a fresh key.
 *
 *   PSK = exportKeyingMaterial(32, "EXPORTER-latch-wg-psk", sort(pubA, pubB) concatenated)
 *
 * The context binds the value to both WireGuard keys; sorting makes both sides compute the same bytes.
 */
import type { TLSSocket } from 'node:tls'
import { PSK_BYTES, PSK_EXPORTER_LABEL } from './protocol.js'

/** Both raw 32-byte keys, sorted bytewise and concatenated. */
export function pskContext(publicKeyA: string, publicKeyB: string): Buffer {
  const a = Buffer.from(publicKeyA, 'base64')
  const b = Buffer.from(publicKeyB, 'base64')
  if (a.length !== 32 || b.length !== 32) throw new RangeError('WireGuard public keys are 32 bytes')
  return Buffer.compare(a, b) <= 0 ? Buffer.concat([a, b]) : Buffer.concat([b, a])
}

/** The base64 preshared key for this connection. */
export function derivePsk(socket: TLSSocket, localPublicKey: string, peerPublicKey: string): string {
  return socket
    .exportKeyingMaterial(PSK_BYTES, PSK_EXPORTER_LABEL, pskContext(localPublicKey, peerPublicKey))
    .toString('base64')
}

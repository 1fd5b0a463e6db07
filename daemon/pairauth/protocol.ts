/**
 * The identity-pair authentication protocol (DESIGN §5), spoken between daemons through the tunnel on
 * PAIR_AUTH_PORT. One TLS 1.3 connection authenticates one pair (local workload X, remote workload Y):
 *
 *  1. Daemon A (for X) connects to daemon B. The client certificate is X's SVID chain; ALPN is
 *     `latch-pair/1`; the SNI names Y as `serverNameFor(Y)` (a hash of the SPIFFE ID: a SPIFFE ID can be
 *     2048 bytes and has characters no hostname may carry, an SNI label at most 63). B's SNI callback
 *     answers with Y's SVID chain — and only ever with the SVID of a workload B hosts. For a name it
 *     does not host, B completes TLS with its node certificate and refuses with `unknown_identity`.
 *  2. The server speaks first, because after TLS it knows everything: Y (SNI), X (certificate), the
 *     sending node (the tunnel address the connection comes from). It checks X and sends its verdict:
 *     `accept {expiresAt}` or `refuse {reason, message}`.
 *  3. On `accept`, the client checks Y's certificate, the constraints of B and its own policy, and
 *     answers `accept {expiresAt}` or `refuse`. Both sides end with the same result: the pair is
 *     authenticated until min(both proposals), each proposal being min(own leaf notAfter, the peer's
 *     path notAfter, now + configured TTL).
 *
 * Every message is one frame of the node protocol's framing (4-byte length + JSON). Constants of the
 * protocol live here; timings of this implementation in timing.ts.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'

/** ALPN protocol id: the version of this protocol. */
export const PAIR_ALPN = 'latch-pair/1'

/** The documented TCP port of the pair-auth listener (on the node's tunnel address); the node handshake uses 7443. */
export const PAIR_AUTH_PORT = 7444

/** The parent domain of every pair-auth server name (`.invalid` is reserved: it never resolves). */
export const SERVER_NAME_SUFFIX = '.pair.latch.invalid'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32 (lowercase, no padding) of `bytes`. */
function base32(bytes: Buffer): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]
  return out
}

/**
 * The TLS server name (SNI) that asks a daemon for the SVID of `spiffeId`: the base32 SHA-256 of the
 * ID (one 52-character label) under SERVER_NAME_SUFFIX. A valid hostname for any SPIFFE ID.
 */
export function serverNameFor(spiffeId: string): string {
  return base32(createHash('sha256').update(spiffeId, 'utf8').digest()) + SERVER_NAME_SUFFIX
}

/**
 * Pair messages are flat and small (a refusal's message is at most 2048 characters, each up to 6
 * bytes of JSON escape): a larger or nested frame is not the protocol and ends the connection.
 */
export const PAIR_FRAME_LIMITS = Object.freeze({ maxFrameBytes: 16 * 1024, maxDepth: 1 })

/** Milliseconds since the epoch, as sent on the wire. */
const instant = z.number().int().nonnegative().max(8.64e15)

export const pairMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('accept'), expiresAt: instant }).strict(),
  z.object({ type: z.literal('refuse'), reason: z.string().max(64), message: z.string().max(2048) }).strict(),
])
export type PairMessage = z.infer<typeof pairMessageSchema>

/**
 * ESP keys and SPIs of a node pair, bound to the node handshake like the WireGuard PSK: both come
 * from the pair's TLS 1.3 exporter value (the PSK the handshake derived, `EXPORTER-latch-wg-psk`),
 * through HKDF-SHA256 with the direction in `info`:
 *
 *   okm(src → dst) = HKDF(ikm = exporter value, salt = "", info = "latch-esp-v1 " + srcKey + ">" + dstKey, 24)
 *   SPI = okm[0..4] (big-endian, kept in 0x100 … 0xffffffff), key = okm[4..24] (AES-128 + 4-byte salt)
 *
 * Every re-handshake gives a new exporter value, so keys and SPIs roll over with it; both ends compute
 * the same SA for each direction without sending any key. `reqid` ties one pair's SAs and policies.
 */
import { createHash, hkdfSync } from 'node:crypto'

export interface DirectionKeys {
  spi: number
  key: Buffer
}

export function espKeys(presharedKey: string, srcPublicKey: string, dstPublicKey: string): DirectionKeys {
  const ikm = Buffer.from(presharedKey, 'base64')
  const okm = Buffer.from(
    hkdfSync('sha256', ikm, Buffer.alloc(0), `latch-esp-v1 ${srcPublicKey}>${dstPublicKey}`, 24),
  )
  let spi = okm.readUInt32BE(0)
  if (spi < 0x100) spi += 0x100 // 0–255 are reserved (RFC 4303 §2.1)
  return { spi, key: okm.subarray(4, 24) }
}

/** The reqid of a node pair (same on both ends): 1 … 0x7fffffff from the sorted public keys. */
export function pairReqid(a: string, b: string): number {
  const [x, y] = a < b ? [a, b] : [b, a]
  const h = createHash('sha256').update(`latch-reqid ${x} ${y}`).digest()
  return h.readUInt32BE(0) & 0x7fffffff || 1
}

/**
 * The few helpers generated.ts calls. The generated encoders write host byte order, which on every
 * platform latch supports (x86-64, arm64) is little-endian; refuse to run anywhere else rather than
 * write byte-swapped keys into the kernel.
 */
import { endianness } from 'node:os'
import { LatchError } from '../../base/errors.js'

if (endianness() !== 'LE') {
  throw new LatchError('LATCH_ERR_BPF_ABI_MISMATCH', 'the datapath encoders assume a little-endian host')
}

export function writeBytes(buf: Buffer, at: number, value: Uint8Array, length: number, where: string): void {
  if (value.length !== length) {
    throw new LatchError(
      'LATCH_ERR_BPF_BAD_ARGUMENT',
      `${where} must be ${length} bytes, got ${value.length}`,
    )
  }
  buf.set(value, at)
}

export function readBytes(buf: Uint8Array, at: number, length: number): Uint8Array {
  return Uint8Array.prototype.slice.call(buf, at, at + length)
}

export function checkCount(count: number, max: number, where: string): void {
  if (count > max) {
    throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', `${where} holds at most ${max} entries, got ${count}`)
  }
}

export function checkRoom(buf: Uint8Array, off: number, size: number, what: string): void {
  if (off < 0 || off + size > buf.length) {
    throw new LatchError(
      'LATCH_ERR_BPF_BAD_ARGUMENT',
      `a ${what} needs ${size} bytes at offset ${off}, the buffer has ${buf.length}`,
    )
  }
}

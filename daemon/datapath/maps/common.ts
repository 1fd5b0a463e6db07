/** Checks shared by the typed map views. */
import { LatchError } from '../../base/errors.js'
import type { NativeBpfMap } from '../native.js'

export const U32_MAX = 0xffff_ffff

export function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 1 || id > U32_MAX) {
    throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', `${what} must be an integer 1..${U32_MAX}, got ${id}`)
  }
}

export function checkIfindex(ifindex: number): void {
  if (!Number.isInteger(ifindex) || ifindex < 0 || ifindex > U32_MAX) {
    throw new LatchError(
      'LATCH_ERR_BPF_BAD_ARGUMENT',
      `ifindex must be an integer 0..${U32_MAX}, got ${ifindex}`,
    )
  }
}

/** Checks that the pinned map has the geometry this code was generated for. */
export function checkGeometry(map: NativeBpfMap, name: string, keySize: number, valueSize: number): void {
  const info = map.info()
  if (info.keySize !== keySize || info.valueSize !== valueSize) {
    throw new LatchError(
      'LATCH_ERR_BPF_PIN_INCOMPATIBLE',
      `map ${name} has key/value sizes ${info.keySize}/${info.valueSize}, this latch expects ${keySize}/${valueSize}`,
    )
  }
}

/**
 * Called by a map view after each write it made (the Datapath bumps config.verdict_gen, or notes
 * the write and bumps once at the end of its batchWrites scope).
 */
export type OnMapWrite = () => void

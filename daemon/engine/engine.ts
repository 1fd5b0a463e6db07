import { LatchError } from '../errors.js'
import type { Engine, EngineOptions } from './types.js'

/** Placeholder until the reconciler lands (API above is final). */
export function createEngine(_opts: EngineOptions): Engine {
  throw new LatchError('LATCH_ERR_INTERNAL_BUG', 'the engine is not implemented yet')
}

import { LatchError } from '../daemon/base/errors.js'
import type { VerifyResult, VerifySuccess } from './verify.js'

/** The success of `result`, or a LatchError LATCH_ERR_CERT_INVALID carrying the reason in its details. */
export function assertVerified(result: VerifyResult, what = 'the certificate'): VerifySuccess {
  if (result.ok) return result
  throw new LatchError(
    'LATCH_ERR_CERT_INVALID',
    `${what} is not valid (${result.reason}): ${result.message}`,
    {
      details: { reason: result.reason, ...(result.depth === undefined ? {} : { depth: result.depth }) },
    },
  )
}

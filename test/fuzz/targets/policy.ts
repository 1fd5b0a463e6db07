/**
 * Fuzz target: the policy loader on any text (what a hot reload reads from disk). An invalid policy
 * is LATCH_ERR_POLICY_INVALID with line/column problems; a valid one answers pairAllowed() for its
 * own identities. Any other exception is a crash.
 */
import { isLatchError } from '../../../daemon/base/errors.js'
import { compilePolicy } from '../../../daemon/policy/compile.js'

export function fuzz(data: Buffer): void {
  let policy: ReturnType<typeof compilePolicy>
  try {
    policy = compilePolicy(data.toString('utf8'), { file: 'fuzz.yaml' })
  } catch (err) {
    if (isLatchError(err) && err.code === 'LATCH_ERR_POLICY_INVALID') return
    throw err
  }
  // the compiled table agrees with itself: every listed pair is allowed both ways
  for (const { a, b } of policy.allowedPairs()) {
    if (!policy.pairAllowed(a, b) || !policy.pairAllowed(b, a)) throw new Error(`pair ${a} ${b} not allowed`)
  }
}

/**
 * What changes for the datapath when the policy changes: the identity pairs that became allowed
 * (authenticate them) and those that stopped being allowed (delete auth[(a, b)] and auth[(b, a)] at
 * once). Port-only changes do not change pairs. Pure.
 */
import { type CompiledPolicy, comparePairs } from './compiled.js'
import type { IdentityPair, PolicyDiff } from './types.js'

/** `old` undefined means "no policy yet": every pair of `next` is added. */
export function diffPolicies(old: CompiledPolicy | undefined, next: CompiledPolicy): PolicyDiff {
  const added: IdentityPair[] = []
  const removed: IdentityPair[] = []
  for (const p of next.allowedPairs()) {
    if (old === undefined || !old.pairAllowed(p.a, p.b)) added.push(p)
  }
  if (old !== undefined) {
    for (const p of old.allowedPairs()) {
      if (!next.pairAllowed(p.a, p.b)) removed.push(p)
    }
  }
  return { added: added.sort(comparePairs), removed: removed.sort(comparePairs) }
}

/**
 * verify() of a chain as a TLS peer sent it (DER, leaf first), with its successes remembered: pair
 * authentication sees the same SVID chain on every handshake of that workload until it is renewed,
 * and verify() walks the path, the profile and the name constraints of it each time.
 *
 * A remembered success is keyed by the SHA-256 of the chain's DER bytes together with everything
 * else verify() was asked (trust bundle text, trust domain, purpose, kind, expected identity), per
 * revocation list object (a reloaded list is a new object: nothing verified under the old one is
 * reused). It answers only while `at` lies strictly inside the path's validity (after the latest
 * notBefore, before the earliest notAfter); at the edges, and for every failure, verify() runs again,
 * so the verdict is verify()'s own. Bounded (least recently used out).
 */
import { createHash } from 'node:crypto'
import { Lru } from './parse-cache.js'
import {
  type RevocationCheck,
  type TrustBundle,
  type VerifyExpectations,
  type VerifyResult,
  type VerifySuccess,
  verify,
} from './verify.js'

const MAX_REMEMBERED = 4096

interface Remembered {
  result: VerifySuccess
  /** ms since the epoch: the latest notBefore and the earliest notAfter of the path */
  from: number
  until: number
}

const NO_LIST: RevocationCheck = { revoked: () => undefined }
const byList = new WeakMap<RevocationCheck, Lru<string, Remembered>>()

function keyOf(chain: readonly Buffer[], bundle: TrustBundle, e: VerifyExpectations): string {
  const h = createHash('sha256')
  for (const der of chain) {
    const len = Buffer.allocUnsafe(4)
    len.writeUInt32BE(der.length)
    h.update(len).update(der)
  }
  const roots = typeof bundle.roots === 'string' ? bundle.roots : undefined
  return `${e.purpose ?? ''}\0${e.kind ?? ''}\0${String(e.spiffeId ?? '')}\0${bundle.trustDomain}\0${h.digest('base64')}\0${roots}`
}

/**
 * verify(chain, bundle, expectations) for a DER chain and a PEM trust bundle; the same result,
 * remembered while it cannot change. Other input shapes go straight to verify().
 */
export function verifyRemembered(
  chain: readonly Buffer[],
  bundle: TrustBundle,
  expectations: VerifyExpectations = {},
): VerifyResult {
  if (typeof bundle.roots !== 'string') return verify(chain, bundle, expectations)
  const at = (expectations.at ?? new Date()).getTime()
  const list = bundle.revocations ?? NO_LIST
  let memo = byList.get(list)
  if (memo === undefined) {
    memo = new Lru(MAX_REMEMBERED)
    byList.set(list, memo)
  }
  const key = keyOf(chain, bundle, expectations)
  const hit = memo.get(key)
  if (hit !== undefined && at > hit.from && at < hit.until) return hit.result
  const result = verify(chain, bundle, expectations)
  if (result.ok) {
    const from = Math.max(...result.chain.map((c) => Date.parse(c.validFrom)))
    memo.set(key, { result, from, until: result.notAfter.getTime() })
  }
  return result
}

/**
 * The checks each side applies to the peer's SVID. Pure: certificates and facts in, a verdict with a
 * typed reason out (safe to call inside a TLS callback).
 *  1. node:tls's own verdict (socket.authorized), looked at first: a refusal OpenSSL names (unknown
 *     issuer, expired, …) is not re-verified; then certs' verify(): chain to our root (name
 *     constraints included), trust domain, a workload ID, the TLS purpose, validity at `now`; a
 *     chain OpenSSL refused without naming why is refused even when verify() finds nothing.
 *  2. the identity asked for (client side: the server must be exactly Y);
 *  3. the SVID's IPs lie inside the constraints of the node the connection belongs to: a node speaks
 *     only for the workloads it hosts, whatever intermediate signed the SVID.
 */
import { cidrsWithin, type VerifyReason, verify } from '../../certs/index.js'
import { verifyRemembered } from '../../certs/verify-memo.js'
import { opensslVerdict } from '../handshake/openssl-verdict.js'
import { type PairReason, reasonOfVerify } from './reasons.js'
import type { NodeConstraints, TrustAnchor } from './types.js'

export interface PeerSvidInput {
  /** The peer's chain as sent, leaf first (DER buffers or PEM). Empty when it sent none. */
  chain: readonly (Buffer | string)[]
  /** node:tls's verdict (socket.authorized) and its error, if any. */
  tlsAuthorized: boolean
  tlsError?: string | undefined
  /** What the certificate must be good for: 'server' when we dialed, 'client' when we accepted. */
  purpose: 'client' | 'server'
  /** The identity the peer must have (client side: the one it asked the server for). */
  expectedId?: string | undefined
}

export interface SvidContext {
  trust: TrustAnchor
  /** The node the connection belongs to, and what it may speak for. */
  node: string
  constraints: NodeConstraints
  now: Date
}

export type SvidVerdict =
  | { ok: true; spiffeId: string; ips: string[]; notAfter: Date }
  | { ok: false; reason: PairReason; message: string; certReason?: VerifyReason }

export function checkPeerSvid(input: PeerSvidInput, ctx: SvidContext): SvidVerdict {
  if (input.chain.length === 0) return { ok: false, reason: 'no_certificate', message: 'no certificate' }
  const tls = opensslVerdict(input.tlsAuthorized, input.tlsError)
  if (!tls.ok && tls.reason !== undefined) {
    return {
      ok: false,
      reason: reasonOfVerify(tls.reason),
      message: `the SVID of node ${ctx.node}'s workload: ${tls.message}`,
      certReason: tls.reason,
    }
  }
  const bundle = {
    roots: ctx.trust.rootPem,
    trustDomain: ctx.trust.trustDomain,
    ...(ctx.trust.revocations && { revocations: ctx.trust.revocations }),
  }
  const expect = { purpose: input.purpose, kind: 'workload', at: ctx.now } as const
  // the same SVID chain comes back on every handshake of its workload: its verdict is remembered
  const ders = input.chain.filter((c): c is Buffer => Buffer.isBuffer(c))
  const result =
    ders.length === input.chain.length
      ? verifyRemembered(ders, bundle, expect)
      : verify(input.chain, bundle, expect)
  if (!result.ok) {
    return {
      ok: false,
      reason: reasonOfVerify(result.reason),
      message: `the SVID of node ${ctx.node}'s workload: ${result.message}`,
      certReason: result.reason,
    }
  }
  if (!tls.ok) {
    return {
      ok: false,
      reason: 'untrusted_svid',
      message: `the SVID of node ${ctx.node}'s workload: ${tls.message}`,
    }
  }
  const spiffeId = result.spiffeId
  if (input.expectedId !== undefined && spiffeId !== input.expectedId) {
    return {
      ok: false,
      reason: 'wrong_identity',
      message: `asked node ${ctx.node} for ${input.expectedId}, it presented ${spiffeId}`,
    }
  }
  if (result.ips.length === 0) {
    return { ok: false, reason: 'svid_without_ips', message: `the SVID of ${spiffeId} has no IP address` }
  }
  let outside: string[]
  try {
    outside = cidrsWithin(result.ips, ctx.constraints.cidrs)
  } catch {
    // the constraints come from a checked node session; unparsable ones vouch for nothing
    outside = result.ips
  }
  if (outside.length > 0) {
    return {
      ok: false,
      reason: 'svid_outside_node_constraints',
      message: `${spiffeId} claims ${outside.join(', ')}, outside node ${ctx.node}'s workload CIDRs (${
        ctx.constraints.cidrs.join(', ') || 'none'
      })`,
    }
  }
  return { ok: true, spiffeId, ips: result.ips, notAfter: result.notAfter }
}

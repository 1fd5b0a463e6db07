/**
 * Why an identity pair did not authenticate. Each reason is a stable string: it goes on the wire to
 * the peer (so both daemons log the same reason), into logs, metrics labels and `latchctl status`.
 * The message says the details; `certReason` keeps certs' verify() reason when there is one.
 */
import type { VerifyReason } from '../../certs/index.js'

export const PAIR_REASONS = {
  policy_denied: 'the policy of the refusing daemon does not allow this pair of identities',
  svid_outside_node_constraints:
    'an SVID address lies outside the name constraints (workload CIDRs) of the node it came from',
  svid_without_ips: 'the SVID has no IP address, so no node can vouch for where it runs',
  expired: 'a certificate on the path has expired',
  not_yet_valid: 'a certificate on the path is not valid yet (clock skew?)',
  wrong_trust_domain: 'the SPIFFE ID is not in our trust domain',
  revoked: 'the SVID, its SPIFFE ID or a certificate on its path is on the revocation list',
  untrusted_svid: 'the SVID does not chain to our root CA through a valid intermediate',
  chain_too_long: 'the peer sent more certificates than a latch chain has (refused before any is parsed)',
  invalid_svid: 'the certificate is not a workload SVID (malformed, wrong usage or not a workload ID)',
  wrong_identity: 'the peer presented an SVID other than the identity asked for',
  unknown_identity: 'the peer daemon hosts no workload with the identity asked for',
  unknown_node: 'the connection does not come from a peer node we hold a session (and constraints) for',
  no_certificate: 'the peer presented no certificate',
  no_credentials: 'this daemon holds no SVID for the local identity',
  unreachable: "the peer's pair-auth port did not answer (refused, reset or no route)",
  tls_failed: 'the TLS 1.3 handshake itself failed (version, ALPN or a transport error)',
  bad_message: 'the peer sent something that is not the protocol',
  timeout: 'the authentication did not complete in time',
  connection_lost: 'the connection closed before the authentication completed',
  shutting_down: 'the daemon is stopping',
} as const

export type PairReason = keyof typeof PAIR_REASONS

export function isPairReason(s: string): s is PairReason {
  return Object.hasOwn(PAIR_REASONS, s)
}

const TRANSIENT: ReadonlySet<PairReason> = new Set<PairReason>([
  'unreachable',
  'tls_failed',
  'timeout',
  'connection_lost',
  'shutting_down',
  'bad_message',
  'no_credentials',
  'unknown_node',
])

/**
 * Whether a failure says the pair must not be authenticated (policy, identity, certificates) rather
 * than that this attempt did not get through (transport, a missing session or SVID). After a
 * definitive failure the existing auth entries of the pair go at once: the peer has dropped its own.
 */
export function isDefinitive(reason: PairReason): boolean {
  return !TRANSIENT.has(reason)
}

/** Which pair reason a verify() failure is. */
export function reasonOfVerify(reason: VerifyReason): PairReason {
  switch (reason) {
    case 'expired':
      return 'expired'
    case 'not_yet_valid':
      return 'not_yet_valid'
    case 'wrong_trust_domain':
      return 'wrong_trust_domain'
    case 'name_constraint_violation':
      return 'svid_outside_node_constraints'
    case 'revoked':
      return 'revoked'
    case 'unknown_issuer':
    case 'bad_signature':
    case 'bad_trust_bundle':
    case 'path_too_long':
    case 'not_a_ca':
    case 'path_length_exceeded':
      return 'untrusted_svid'
    default:
      return 'invalid_svid'
  }
}

/** Who decided: `local` = this daemon refused, `peer` = the peer refused us, `transport` = neither. */
export type PairRefusalBy = 'local' | 'peer' | 'transport'

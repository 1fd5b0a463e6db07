/**
 * Why a node handshake did not produce a session. Each reason is a stable string (it goes on the
 * wire to the peer, into logs, metrics labels and `latchctl status`); the message says the details.
 * Certificate reasons come from certs' verify() and are passed through with a `cert_` prefix.
 */

export const HANDSHAKE_REASONS = {
  unreachable: "the peer's handshake port did not answer (refused, reset or no route)",
  tls_failed: 'the TLS 1.3 handshake itself failed (version, cipher, ALPN or a transport error)',
  no_certificate: 'the peer presented no certificate',
  untrusted_certificate: "the peer's certificate does not chain to our root CA",
  chain_too_long: 'the peer sent more certificates than a latch chain has (refused before any is parsed)',
  wrong_peer: 'the peer is authenticated but is not the node we expected',
  unknown_peer: 'the peer is authenticated but not in our peers file',
  registration_mismatch:
    'the peer is authenticated but its certificate is not the one its discovery registration names (a forged or stale record)',
  bad_message: 'the peer sent something that is not the protocol',
  version_mismatch: 'the peer speaks another protocol version',
  name_mismatch: "the node name in the peer's hello is not the one in its certificate",
  intermediate_untrusted: "the peer's intermediate CA is not a CA issued by our root, or is expired",
  intermediate_not_for_node: "the peer's intermediate CA was not issued for that node",
  constraints_wrong_trust_domain: "the intermediate's URI name constraint is not our trust domain",
  cidrs_outside_constraints: "the claimed workload CIDRs are not inside the intermediate's name constraints",
  inventory_outside_cidrs: 'a workload of the inventory is outside the claimed CIDRs or trust domain',
  bad_endpoint: "the claimed WireGuard endpoint is malformed or not the address in the peer's certificate",
  bad_tunnel_address: 'the claimed tunnel address is not a host address (/32 or /128)',
  same_wireguard_key: 'the peer uses our own WireGuard public key',
  timeout: 'the handshake did not complete in time',
  connection_lost: 'the connection closed before the handshake completed',
  shutting_down: 'the daemon is stopping',
  starting: 'the daemon is starting and has not loaded its peers yet (the dialer retries; its tunnel stays)',
} as const

export type HandshakeReason = keyof typeof HANDSHAKE_REASONS

/** A certs verify() reason, prefixed: `cert_expired`, `cert_unknown_issuer`, … */
export type CertReason = `cert_${string}`

export type RefusalReason = HandshakeReason | CertReason

/** Who decided: `local` = this daemon refused, `peer` = the peer refused us, `transport` = neither. */
export type RefusalBy = 'local' | 'peer' | 'transport'

export interface Refusal {
  reason: RefusalReason | string
  message: string
  by: RefusalBy
}

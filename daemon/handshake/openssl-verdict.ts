/**
 * OpenSSL's verdict on the peer's chain, read before latch's own verification (issue 11, cheap checks
 * first). node:tls has already validated the chain against our roots during the handshake (name
 * constraints included) and left its verdict on the socket (`authorized`, `authorizationError`, an
 * OpenSSL X509_V_ERR code as text). When it refused with a code that names the fault, latch's
 * verify() — which parses every certificate the peer sent and tries signatures — is not run at all:
 * the refusal takes its reason from the code. Used by the node handshake and by pair authentication.
 */
import type { VerifyReason } from '../../certs/index.js'

/**
 * OpenSSL verify error codes, as node:tls names them, that say exactly what verify() would say. node:tls
 * names only some X509_V_ERR codes and reports the others (name-constraint violations among them) as
 * UNSPECIFIED: those have no reason here, and the caller lets verify() find the precise one on the
 * (length-bounded) chain.
 */
const BY_CODE: Readonly<Record<string, VerifyReason>> = {
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not_yet_valid',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'malformed_validity',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'malformed_validity',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown_issuer',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown_issuer',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown_issuer',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown_issuer',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown_issuer',
  CERT_SIGNATURE_FAILURE: 'bad_signature',
  CERT_CHAIN_TOO_LONG: 'path_too_long',
  INVALID_CA: 'not_a_ca',
  PATH_LENGTH_EXCEEDED: 'path_length_exceeded',
  INVALID_PURPOSE: 'wrong_key_usage',
  CERT_REVOKED: 'revoked',
}

export type OpensslVerdict =
  | { ok: true }
  /** `reason` is undefined for a code without a verify() reason (UNSPECIFIED and the like). */
  | { ok: false; reason: VerifyReason | undefined; message: string }

export function opensslVerdict(authorized: boolean, error: string | undefined): OpensslVerdict {
  if (authorized) return { ok: true }
  const code = (error ?? '').trim()
  const reason = Object.hasOwn(BY_CODE, code) ? BY_CODE[code] : undefined
  return {
    ok: false,
    reason,
    message: `TLS path validation failed: ${code || 'unknown error'}${reason ? ` (${reason.replaceAll('_', ' ')})` : ''}`,
  }
}

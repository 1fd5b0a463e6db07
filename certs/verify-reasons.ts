/** Why verify() refuses a chain: one typed reason per rule, and the exception that carries it. */

export type VerifyReason =
  | 'malformed_certificate'
  | 'bad_trust_bundle'
  | 'unknown_issuer'
  | 'bad_signature'
  | 'path_too_long'
  | 'expired'
  | 'not_yet_valid'
  | 'malformed_validity'
  | 'bad_serial_number'
  | 'missing_key_identifier'
  | 'empty_subject'
  | 'not_a_ca'
  | 'basic_constraints_not_critical'
  | 'path_length_exceeded'
  | 'unsupported_critical_extension'
  | 'leaf_is_ca'
  | 'wrong_key_usage'
  | 'no_spiffe_id'
  | 'multiple_spiffe_ids'
  | 'malformed_spiffe_id'
  | 'wrong_trust_domain'
  | 'reserved_spiffe_id'
  | 'unexpected_spiffe_id'
  | 'name_constraints_on_leaf'
  | 'malformed_name_constraints'
  | 'name_constraints_too_complex'
  | 'name_constraint_violation'
  | 'revoked'

export class Reject extends Error {
  constructor(
    readonly reason: VerifyReason,
    message: string,
    readonly depth?: number,
  ) {
    super(message)
  }
}

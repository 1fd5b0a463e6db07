/**
 * The data types of a policy file after validation, documented field by field. Pure.
 *
 * Semantics (see also daemon/policy/example.yaml):
 * - Default deny: two mesh workloads may exchange packets only when a rule names them.
 * - A rule is directional: `from: X, to: Y` lets X open flows to Y (on `ports`, if given). It does
 *   not let Y open flows to X; write a second rule for that.
 * - The datapath authenticates identity pairs, not flows. Replies of an X→Y flow travel Y→X, so for
 *   every allowed X→Y the daemon writes auth entries for both (X, Y) and (Y, X): an IdentityPair is
 *   unordered. Direction and ports are what `allows()` answers (policy tests, and a port stage in the
 *   datapath once it has one); the auth map itself grants the pair both ways.
 * - Identities are exact SPIFFE IDs of the policy's trust domain. Wildcards are not supported: the
 *   daemon must know exactly which auth entries a policy change removes.
 */
import type { PortSpec } from './ports.js'

/** Where something is in the policy file, 1-based. */
export interface SourcePos {
  readonly line: number
  readonly col: number
}

/** One thing wrong with a policy file. */
export interface PolicyProblem extends SourcePos {
  /** What is wrong and what to write instead. */
  readonly message: string
  /** Where in the document, e.g. "allow[2].ports[0]". */
  readonly path: string
}

/** One `allow:` entry. */
export interface PolicyRule {
  /** The SPIFFE ID that may open flows. */
  readonly from: string
  /** The SPIFFE ID it may open them to. */
  readonly to: string
  /** The port specs as written (canonical text), or undefined when any protocol/port is allowed. */
  readonly ports: readonly PortSpec[] | undefined
  /** Where the rule starts in the file. */
  readonly pos: SourcePos
}

export type Expectation = 'allow' | 'deny'

/** One `tests:` entry. */
export interface PolicyTest {
  readonly from: string
  readonly to: string
  /** The one port checked (e.g. tcp/5432, icmp), or undefined: "may `from` reach `to` at all". */
  readonly port: PortSpec | undefined
  readonly expect: Expectation
  readonly pos: SourcePos
}

/**
 * An unordered pair of identities that policy lets exchange packets (in at least one direction),
 * canonical with `a <= b` (string order). The daemon keeps auth[(a, b)] and auth[(b, a)] for it.
 */
export interface IdentityPair {
  readonly a: string
  readonly b: string
}

export interface PolicyDiff {
  /** Pairs the new policy allows that the old one did not: authenticate them. */
  readonly added: readonly IdentityPair[]
  /** Pairs the old policy allowed that the new one does not: delete both auth entries at once. */
  readonly removed: readonly IdentityPair[]
}

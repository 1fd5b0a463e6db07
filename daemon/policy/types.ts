/**
 * The data types of a policy file after validation, documented field by field. Pure.
 *
 * Semantics (see also daemon/policy/example.yaml):
 * - Default deny: two mesh workloads may exchange packets only when a rule names them.
 * - A rule is directional: `from: X, to: Y` lets X open flows to Y (on `ports`, if given). It does
 *   not let Y open flows to X; write a second rule for that.
 * - The kernel enforces rules as written (bpf/include/latch_abi.h): a policy map entry per rule says
 *   what X may open to Y (protocols, destination ports, or any); connection tracking lets replies
 *   and related ICMP errors of an allowed flow through, and a new flow Y→X needs its own rule.
 *   Authentication is of identity PAIRS: for every rule X→Y the daemon authenticates X and Y to each
 *   other and writes auth entries for both (X, Y) and (Y, X) (an IdentityPair is unordered); the auth
 *   entry proves the pair, the policy entry says what it may do.
 * - `from: node` (NODE_SOURCE) is the node's own stack (health probes, agents) as a source towards
 *   its own workloads; it needs no pair authentication and is in no IdentityPair.
 * - Identities are exact SPIFFE IDs of the policy's trust domain. Wildcards are not supported: the
 *   daemon must know exactly which auth entries a policy change removes.
 */
import type { PortSpec } from './ports.js'

/** The `from:` keyword for the node's own traffic (the datapath's reserved LATCH_ID_NODE). */
export const NODE_SOURCE = 'node'

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

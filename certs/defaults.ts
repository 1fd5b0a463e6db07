/**
 * The PKI's defaults, in one place: where the PKI lives and how long each kind of certificate lives.
 * The CLI help text and the README quote these values; change them here only.
 */

/** Where `latchctl ca|node|identity` keep the PKI when neither --dir nor $LATCH_PKI_DIR is given. */
export const DEFAULT_PKI_DIR = '/var/lib/latch/pki'

/** The PKI directory: --dir, else $LATCH_PKI_DIR, else DEFAULT_PKI_DIR. */
export function resolvePkiDir(dir?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (dir !== undefined && dir !== '') return dir
  const fromEnv = env['LATCH_PKI_DIR']
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_PKI_DIR
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** Lifetimes in milliseconds. */
export const LIFETIME = {
  /** The root CA: long-lived, kept offline in production. */
  root: 10 * 365 * DAY,
  /** A node's intermediate CA (its name constraints): outlives the node certificate. */
  intermediate: 90 * DAY,
  /** A node's own certificate (daemon-to-daemon TLS). */
  node: 30 * DAY,
  /** A workload SVID: short, the daemon renews it at half-life. */
  workload: HOUR,
  /** The longest workload SVID `identity issue --ttl` accepts. */
  workloadMax: 30 * DAY,
  /** The shortest one (below this, renewal at half-life would spin). */
  workloadMin: 10_000,
} as const

/** Human-readable forms of the lifetimes above, for help texts. */
export const LIFETIME_TEXT = {
  root: '10 years',
  intermediate: '90 days',
  node: '30 days',
  workload: '1h',
  workloadMax: '30d',
  workloadMin: '10s',
} as const

/** notBefore is set this far in the past so a peer whose clock is slightly behind accepts a fresh cert. */
export const BACKDATE_MS = MINUTE

/** The curve of every key latch creates. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const

/** Help text of every --dir option. */
export const PKI_DIR_HELP = `PKI directory (default: $LATCH_PKI_DIR, else ${DEFAULT_PKI_DIR})`

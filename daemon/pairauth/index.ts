/**
 * Identity-pair authentication (DESIGN §5): the TLS 1.3 handshake between daemons with workload SVIDs
 * (client function, server factory), the planner of which pairs to authenticate and when, and the one
 * coarse timer that drives re-authentication and expiry. Pure or loopback-testable; writes nothing:
 * the daemon turns outcomes into auth and ipcache entries.
 */

export { checkPeerSvid, type PeerSvidInput, type SvidContext, type SvidVerdict } from './check-svid.js'
export { type AuthenticatePairOptions, authenticatePair } from './client.js'
export { type Credential, type SvidInput, WorkloadCredentials } from './credentials.js'
export { PairAuthLoop, type PairAuthLoopOptions, type RevokeWhy } from './loop.js'
export { type PairState, PairTable, type PairTableOptions, type Reconciled } from './pair-table.js'
export {
  desiredPairs,
  initiates,
  type PlanInput,
  type PlannedPair,
  type PlannerPolicy,
  pairKey,
  type WorkloadRef,
} from './planner.js'
export { PAIR_ALPN, PAIR_AUTH_PORT, SERVER_NAME_SUFFIX, serverNameFor } from './protocol.js'
export {
  isDefinitive,
  isPairReason,
  PAIR_REASONS,
  type PairReason,
  type PairRefusalBy,
  reasonOfVerify,
} from './reasons.js'
export {
  DEFAULT_REAUTH_TIMING,
  firstDialAt,
  type ReauthTiming,
  reauthAt,
  reauthTiming,
  retryAt,
} from './reauth.js'
export { createPairAuthServer, PairAuthServer, type PairAuthServerOptions } from './server.js'
export { DEFAULT_PAIR_TIMING, DEFAULT_PAIR_TTL_MS, type PairTiming } from './timing.js'
export type {
  NodeConstraints,
  PairFailure,
  PairOutcome,
  PairPolicy,
  PairRole,
  PairSuccess,
  TrustAnchor,
} from './types.js'

/**
 * Workload identities on this node: SPIFFE IDs, and the SVIDs latchd keeps fresh by renewing them
 * from the node intermediate at half-life.
 */
export {
  type LocalWorkload,
  type NodeIntermediate,
  type RenewOptions,
  renewalTime,
  renewSvid,
} from './renew.js'
export {
  type ActiveSvid,
  type RenewCause,
  type RenewedSvid,
  SvidRenewer,
  type SvidRenewerOptions,
} from './renewer.js'
export { type CurrentSvid, readCurrentSvid, type SvidFiles, writeSvidFiles } from './svid-files.js'

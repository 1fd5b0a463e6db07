/** The PKI: CA, node intermediates, workload SVIDs, and verification with typed reasons. */
export { assertVerified } from './assert.js'
export { type InitCaOptions, initCa } from './ca.js'
export type { CertInput, ChainInput } from './chain-input.js'
export { DEFAULT_PKI_DIR, LIFETIME, LIFETIME_TEXT, resolvePkiDir } from './defaults.js'
export { certFingerprint, FINGERPRINT_PATTERN } from './fingerprint.js'
export { formatInspectReport, type InspectReport, inspectCertificate } from './inspect.js'
export { readPrivateKey } from './keys.js'
export {
  caPaths,
  checkNodeName,
  type DaemonPkiFiles,
  daemonPkiFiles,
  type NodePaths,
  nodePaths,
  workloadPaths,
} from './layout.js'
export { readNameConstraints } from './name-constraints.js'
export { cidrsWithin, parseCidr, parseIp } from './net.js'
export { type IssueNodeOptions, intermediateNamesNode, issueNode } from './node.js'
export { listNodes, type NodeInfo, readNodeInfo, readTrustDomain } from './state.js'
export {
  type TrustBundle,
  type VerifyExpectations,
  type VerifyFailure,
  type VerifyReason,
  type VerifyResult,
  type VerifySuccess,
  verify,
} from './verify.js'
export {
  checkWorkloadId,
  type IssuedSvid,
  type IssueFromIntermediateOptions,
  type IssueWorkloadOptions,
  issueWorkload,
  issueWorkloadFromIntermediate,
} from './workload.js'
export { loadCertificates, loadPem, parseCertificates } from './x509.js'

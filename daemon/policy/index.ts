/**
 * Policy files: the public API for latchd and latchctl. See types.ts for the semantics (directional
 * rules, unordered identity pairs for auth entries, default deny, no wildcards).
 */

export { compilePolicy, formatProblem, invalidPolicy } from './compile.js'
export { type AsyncCompileOptions, compilePolicyAsync, WORKER_MIN_BYTES } from './compile-async.js'
export { CompiledPolicy, type Verdict } from './compiled.js'
export { diffPolicies } from './diff.js'
export { loadPolicyFile, MAX_POLICY_BYTES, readPolicyText } from './load.js'
export { type PortSpec, PROTOCOLS, type Protocol, type ProtocolName, parsePortSpec } from './ports.js'
export { runPolicyTests, type TestResult } from './run-tests.js'
export type {
  Expectation,
  IdentityPair,
  PolicyDiff,
  PolicyProblem,
  PolicyRule,
  PolicyTest,
  SourcePos,
} from './types.js'
export { NODE_SOURCE } from './types.js'
export { POLICY_VERSION } from './validate.js'
export {
  type OnPolicyChange,
  type OnPolicyError,
  type PolicyWatch,
  type WatchOptions,
  watchPolicy,
} from './watch.js'

/** The eBPF datapath: what the engine (and tools) import. */
export * from './abi/generated.js'
export { bytesToIp, formatPrefix, ipToBytes, type Prefix, parsePrefix } from './addr.js'
export type { AttachAction, Attachment, AttachResult, TcSlot } from './attach.js'
export { DEFAULT_TC_SLOT } from './attach.js'
export { bootNsToWall, type ClockSample, type DatapathClock, kernelClock, wallToBootNs } from './clock.js'
export {
  Datapath,
  type DatapathOptions,
  DEFAULT_EVENT_INTERVAL_MS,
  DEFAULT_OBJECT,
  DEFAULT_PIN_DIR,
} from './datapath.js'
export { type DatapathEvent, decodeEvent, type EventSubscription } from './events.js'
export { type LoadAction, type LoadedProgram, PROGRAM_NAMES, type ProgramName } from './loader.js'
export type { AuthEntry, AuthListing, AuthPair } from './maps/auth.js'
export { type CtTimeouts, type DatapathSettings, DEFAULT_CT_TIMEOUTS } from './maps/config.js'
export type { CtEntry, CtState } from './maps/ct.js'
export type { Endpoint } from './maps/endpoints.js'
export type { IpcacheEntry, IpcacheScope } from './maps/ipcache.js'
export type { PolicyEntry, PolicyPair, PortRange } from './maps/policy.js'
export type { Counter } from './maps/stats.js'
export type { TestRunOptions, TestRunResult } from './native.js'
export { REASONS, type ReasonInfo, reasonName, type Verdict } from './reasons.js'

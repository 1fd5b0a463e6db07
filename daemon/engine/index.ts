/**
 * The engine: desired state (authenticated peer sessions) → kernel (WireGuard peers and routes;
 * later the eBPF datapath beside it). Idempotent and coalesced. This file is the public API.
 */

export type { LinkInfo, NetlinkPort } from '../transport/netlink-port.js'
export type { CommandRunner, RunOptions, RunResult } from '../transport/runner.js'
export type { WireguardOptions } from '../transport/wireguard.js'
export { createEngine } from './engine.js'
export type {
  Engine,
  EngineOptions,
  EngineStatus,
  PeerInventory,
  PeerSession,
  PeerStatus,
  ReconcileResult,
} from './types.js'

/**
 * What latchd's components share while it runs: the options it was started with, and each
 * component's part, set by its start (daemon/node/start-up.ts lists the components in order).
 */
import type { Logger } from 'pino'
import type { BackoffPolicy } from '../base/backoff.js'
import type { Clock } from '../base/clock.js'
import { LatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import type { ControlServer } from '../control/server.js'
import type { Discovery } from '../discovery/types.js'
import type { NodeDatapath } from '../engine/datapath.js'
import type { InventorySync } from '../engine/datapath-inventory.js'
import type { IdentityDatapath } from '../engine/identity-datapath.js'
import type { Engine } from '../engine/index.js'
import type { HandshakeServer } from '../handshake/server.js'
import type { HandshakeTiming } from '../handshake/timing.js'
import type { LocalNode } from '../handshake/types.js'
import type { TrustMaterial } from '../identity/trust-material.js'
import type { DaemonMetrics, MetricsListener } from '../observe/metrics.js'
import type { DaemonGuards } from './listener-limits.js'
import type { LocalIdentity } from './local-identity.js'
import type { Mesh } from './mesh.js'
import type { PairService } from './pair-service.js'
import type { TrustLifecycle } from './trust-lifecycle.js'
import type { WorkloadRegistry } from './workload-registry.js'

export interface DaemonOptions {
  config: Config
  logger: Logger
  /** Default: createEngine with the config's wireguard block. */
  engine?: Engine
  clock?: Clock
  timing?: HandshakeTiming
  backoff?: BackoffPolicy
  /** The eBPF identity datapath pair authentication writes auth/ipcache entries into. */
  datapath?: IdentityDatapath
}

export interface DaemonParts {
  readonly options: DaemonOptions
  readonly config: Config
  readonly logger: Logger
  readonly startedAt: Date
  /** Set when every component has started (status `ready`, /readyz); cleared when stopping. */
  ready?: boolean
  identity?: LocalIdentity
  /** The local workloads: the config's and those registered at runtime (re-adopted at start). */
  workloads?: WorkloadRegistry
  engine?: Engine
  /** What engine.start() found: this node's WireGuard key, and whether the interface was adopted. */
  wireguard?: { publicKey: string; adopted: boolean }
  /** The eBPF datapath latchd runs (undefined when datapath.enabled is false). */
  datapath?: NodeDatapath | undefined
  /** Where pair authentication writes entries: options.datapath, else the datapath above. */
  identityDatapath?: IdentityDatapath | undefined
  /** Handshake timing: options.timing, else the defaults with config limits.handshakeTimeout. */
  timing?: HandshakeTiming
  /** This node as the handshake presents it. */
  local?: LocalNode
  metrics?: DaemonMetrics
  /** The admission limits of every listener (config `limits`). */
  guards?: DaemonGuards
  mesh?: Mesh
  inventory?: InventorySync | undefined
  handshake?: HandshakeServer
  /** The handshake listener's bound port (differs from config when it is 0). */
  listenPort?: number
  discovery?: Discovery
  /** Set by the peering component: from then on discovery changes go straight to the mesh. */
  peering?: boolean
  /** The revocation list in force at start (config pki.revocationFile). */
  revocations?: TrustMaterial['revocations']
  trust?: TrustLifecycle
  control?: ControlServer
  metricsServer?: MetricsListener | undefined
  pairs?: PairService | undefined
}

/** A part an earlier component must have set: its absence is a bug in the component order. */
export function need<T>(part: T | undefined, what: string): T {
  if (part === undefined) {
    throw new LatchError('LATCH_ERR_INTERNAL_BUG', `latchd start-up: ${what} is used before it is started`)
  }
  return part
}

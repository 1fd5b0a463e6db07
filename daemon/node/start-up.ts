/**
 * latchd's components in start order. Each starts after the ones above it and stops before them;
 * if one fails to start, the ones above it are stopped in reverse and latchd exits with its error
 * (daemon/base/lifecycle.ts). To add a component: write it (components/, reading earlier parts
 * and adding its own to DaemonParts in parts.ts) and add one line here, where its inputs exist.
 */
import type { Component } from '../base/lifecycle.js'
import { controlSocketComponent } from './components/control-socket.js'
import { datapathComponent } from './components/datapath.js'
import { discoveryComponent } from './components/discovery.js'
import { engineComponent } from './components/engine.js'
import { handshakeListenerComponent } from './components/handshake-listener.js'
import { identityComponent } from './components/identity.js'
import { inventoryComponent } from './components/inventory.js'
import { listenerLimitsComponent } from './components/listener-limits.js'
import { meshComponent } from './components/mesh.js'
import { metricsComponent } from './components/metrics.js'
import { pairAuthComponent } from './components/pair-auth.js'
import { peeringComponent } from './components/peering.js'
import { trustComponent } from './components/trust.js'
import { workloadRegistrationComponent, workloadsComponent } from './components/workloads.js'
import type { DaemonParts } from './parts.js'

export const COMPONENTS: readonly Component<DaemonParts>[] = [
  identityComponent, //           node certificate, key, intermediate, root
  workloadsComponent, //          registrations kept across restarts (those whose interface vanished dropped)
  engineComponent, //             WireGuard interface (adopted or created); left in place on stop
  datapathComponent, //           eBPF maps and programs (load or adopt the pins)
  meshComponent, //               peer state machines and metrics, no peers yet
  listenerLimitsComponent, //     admission limits of every listener (config `limits`)
  inventoryComponent, //          remote ipcache from peer inventories (no policy file)
  handshakeListenerComponent, //  TLS 1.3 node handshakes on config `listen`
  discoveryComponent, //          peers file or etcd (registers the bound handshake port)
  controlSocketComponent, //      status, ping, datapath commands
  metricsComponent, //            /metrics (config `metrics`)
  pairAuthComponent, //           identity-pair authentication (config `policyFile`)
  workloadRegistrationComponent, // workload_add/remove served from here on (control socket, latch-cni)
  peeringComponent, //            the mesh gets the discovered peers and starts dialing
  trustComponent, //              PKI hot reload, revocation list, expiry warnings
]

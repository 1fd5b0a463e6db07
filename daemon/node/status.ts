/** The status report of a running latchd, from its parts. */

import type { ControlResponse } from '../wire/control.js'
import { type DaemonParts, need } from './parts.js'
import { buildStatus } from './status-report.js'

export async function daemonStatus(p: DaemonParts): Promise<ControlResponse> {
  const engine = need(p.engine, 'the engine')
  const wgStatus = await engine.status().catch((err: Error) => err)
  const datapath = p.datapath
  return {
    ok: true,
    status: {
      ...buildStatus({
        config: p.config,
        spiffeId: need(p.identity, 'the identity').spiffeId,
        wgPublicKey: need(p.wireguard, 'WireGuard').publicKey,
        startedAt: p.startedAt,
        ready: p.ready === true,
        now: new Date(),
        peers: need(p.mesh, 'the mesh').snapshot(),
        wireguard: wgStatus,
        ...(p.pairs && { pairAuth: await p.pairs.status() }),
        ...(p.discovery && { discovery: p.discovery.status() }),
        ...(p.workloads && { workloads: p.workloads.list() }),
      }),
      ...(p.trust && { trust: p.trust.status() }),
      ...(datapath && { datapath: datapath.report() }),
    },
  }
}

/** Identity-pair authentication (DESIGN §5), when a policy file is configured. */
import { LatchError } from '../../base/errors.js'
import type { Component } from '../../base/lifecycle.js'
import { PairService } from '../pair-service.js'
import { type DaemonParts, need } from '../parts.js'

export const pairAuthComponent: Component<DaemonParts> = {
  name: 'pair authentication',
  async start(p) {
    const c = p.config
    if (c.policyFile === undefined) return
    if (p.identityDatapath === undefined) {
      // no enforcement point: authenticating pairs would write nowhere. Say so loudly; run the mesh.
      const e = new LatchError(
        'LATCH_ERR_PAIRAUTH_NO_DATAPATH',
        `pair authentication (policyFile ${c.policyFile}) needs the eBPF identity datapath, which is not running; pair authentication is off`,
      )
      p.logger.error({ event: 'pairauth_disabled', code: e.code }, e.message)
      return
    }
    const identity = need(p.identity, 'the identity')
    const mesh = need(p.mesh, 'the mesh')
    const registry = need(p.workloads, 'the workloads')
    const pairs = new PairService({
      config: c,
      logger: p.logger,
      rootPem: identity.rootPem,
      node: { certPem: identity.certPem, keyPem: identity.keyPem },
      revocations: need(p.revocations, 'the revocation list'),
      peers: () => mesh.snapshot(),
      datapath: p.identityDatapath,
      local: () => registry.local(),
      registered: registry.svidWorkloads(),
      guard: need(p.guards, 'the listener limits').pairAuth,
    })
    p.pairs = pairs
    await pairs.start().catch(async (err) => {
      await pairs.stop()
      p.pairs = undefined
      throw err
    })
  },
  async stop(p) {
    await p.pairs?.stop()
  },
}

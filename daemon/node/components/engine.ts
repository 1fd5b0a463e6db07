/**
 * The engine (WireGuard interface and peers). Stopping flushes pending changes and leaves WireGuard
 * as it is, so the next latchd re-adopts the interface and its peers without cutting traffic.
 */
import type { Component } from '../../base/lifecycle.js'
import { createEngine } from '../../engine/index.js'
import type { DaemonParts } from '../parts.js'

export const engineComponent: Component<DaemonParts> = {
  name: 'engine',
  async start(p) {
    const c = p.config
    const engine =
      p.options.engine ??
      createEngine({
        wireguard: c.wireguard,
        ...(c.transport === 'ipsec' && {
          ipsec: { interface: c.ipsec.interface, ifId: c.ipsec.ifId, underlay: c.listen.address },
        }),
        logger: p.logger.child({ component: 'engine' }),
        adoptGraceMs: c.peerGracePeriod,
      })
    p.wireguard = await engine.start()
    p.engine = engine
  },
  async stop(p) {
    await p.engine?.flush().catch(() => undefined)
    await p.engine?.stop()
  },
}

/** The admission limits of latchd's listeners (config `limits`), shared by the listeners after it. */
import type { Component } from '../../base/lifecycle.js'
import { daemonGuards } from '../listener-limits.js'
import { type DaemonParts, need } from '../parts.js'

export const listenerLimitsComponent: Component<DaemonParts> = {
  name: 'listener limits',
  start(p) {
    p.guards = daemonGuards(p.config, p.logger, need(p.metrics, 'the metrics'), {
      nodeMs: need(p.timing, 'the handshake timing').handshakeTimeoutMs,
      pairAuthMs: p.config.limits.handshakeTimeout,
    })
  },
}

/** The Prometheus /metrics listener, when config `metrics` is set. */
import type { Component } from '../../base/lifecycle.js'
import { formatEndpoint } from '../../config/net.js'
import { listenOr } from '../listen-or.js'
import { type DaemonParts, need } from '../parts.js'

export const metricsComponent: Component<DaemonParts> = {
  name: 'metrics',
  async start(p) {
    if (!p.config.metrics) return
    const { address, port } = p.config.metrics
    const metrics = need(p.metrics, 'the metrics')
    p.metricsServer = await listenOr('metrics', formatEndpoint(address, port), () =>
      metrics.listen(address, port, need(p.guards, 'the listener limits').metrics),
    )
  },
  async stop(p) {
    await p.metricsServer?.close()
  },
}

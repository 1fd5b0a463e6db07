/** The discovery backend a config names: the static peers file, or etcd. */
import type { Logger } from 'pino'
import { LatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import { StaticPeers } from './static-file.js'
import type { Discovery, DiscoveryCallbacks } from './types.js'

export interface CreateDiscoveryOptions extends DiscoveryCallbacks {
  config: Config
  logger: Logger
  /** This node's handshake endpoint and certificate fingerprint, for its etcd registration. */
  self: { address: string; port: number; fingerprint: string }
}

/**
 * etcd's client (etcd3 → grpc-js, protobufs) and cockatiel are loaded only when the config names
 * etcd: on a peers-file node they are ~14 MiB of latchd's RSS for nothing.
 */
export async function createDiscovery(o: CreateDiscoveryOptions): Promise<Discovery> {
  const c = o.config
  const cb = { onChange: o.onChange, onError: o.onError }
  if (c.etcd) {
    const { EtcdDiscovery } = await import('./etcd.js')
    return new EtcdDiscovery({
      ...cb,
      etcd: c.etcd,
      self: { name: c.node, ...o.self },
      gracePeriodMs: c.peerGracePeriod,
      logger: o.logger,
    })
  }
  if (c.peersFile !== undefined) return new StaticPeers({ ...cb, file: c.peersFile, self: c.node })
  throw new LatchError(
    'LATCH_ERR_INTERNAL_BUG',
    'the config names no discovery backend (the schema requires one)',
  )
}

/**
 * Remote ipcache entries from the node-handshake inventories of established peers — the source
 * used until identity-pair authentication (daemon/pairauth) writes them from authenticated SVIDs.
 * Each inventory was checked against the peer node's name constraints when it arrived, and the
 * entries require arrival through the WireGuard interface, whose cryptokey routing only accepts
 * those sources from that peer. Switch it off (latchd does when a policy file is configured) and
 * the pair-auth service becomes the only writer.
 */
import type { Logger } from 'pino'
import { asLatchError } from '../base/errors.js'
import type { NodeDatapath } from './datapath.js'
import type { PeerInventory } from './types.js'

/** What the inventories of live peers say: remote SPIFFE ID → IPs (a peer in grace keeps its entries). */
export function desiredRemoteIdentities(peers: readonly PeerInventory[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const p of peers) {
    if (p.tunnel === 'down' || !p.workloads) continue
    for (const w of p.workloads) out.set(w.id, [...new Set([...(out.get(w.id) ?? []), ...w.ips])].sort())
  }
  return out
}

/** Brings the datapath's remote identities to the inventories (adoption and grace are the reconcile's). */
export async function syncRemoteFromInventories(
  dp: NodeDatapath,
  peers: readonly PeerInventory[],
  logger: Logger,
): Promise<boolean> {
  const desired = desiredRemoteIdentities(peers)
  const changed = await dp.setRemoteIdentities(desired)
  if (changed) {
    logger.info(
      { event: 'remote_identities_synced', identities: desired.size },
      `remote identities from peer inventories: datapath updated, ${desired.size} known`,
    )
  }
  return changed
}

/** Runs the sync when sessions change (trigger) and on one coarse timer (grace expiry, safety). */
export class InventorySync {
  #running = false
  #again = false
  readonly #timer: NodeJS.Timeout

  constructor(
    private readonly dp: NodeDatapath,
    private readonly peers: () => readonly PeerInventory[],
    private readonly logger: Logger,
    intervalMs = 5000,
  ) {
    this.#timer = setInterval(() => this.trigger(), intervalMs)
    this.#timer.unref()
  }

  trigger(): void {
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = true
    void syncRemoteFromInventories(this.dp, this.peers(), this.logger)
      .catch((err) => this.logger.error({ event: 'remote_identities_failed' }, asLatchError(err).message))
      .finally(() => {
        this.#running = false
        if (this.#again) {
          this.#again = false
          this.trigger()
        }
      })
  }

  stop(): void {
    clearInterval(this.#timer)
  }
}

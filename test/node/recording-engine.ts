/**
 * Records what the peer state machine asks of the engine (the real engine needs WireGuard and a
 * network namespace; it is exercised in the netns tests). PSKs are kept only in memory for asserts.
 */
import type { PeerSession } from '../../daemon/engine/index.js'

export type EngineCall = { op: 'upsert'; session: PeerSession } | { op: 'remove'; name: string }

export class RecordingEngine {
  readonly calls: EngineCall[] = []
  readonly peers = new Map<string, PeerSession>()

  upsertPeer(s: PeerSession): void {
    this.calls.push({ op: 'upsert', session: s })
    this.peers.set(s.name, s)
  }

  removePeer(name: string): void {
    this.calls.push({ op: 'remove', name })
    this.peers.delete(name)
  }

  upserts(name: string): PeerSession[] {
    return this.calls.flatMap((c) => (c.op === 'upsert' && c.session.name === name ? [c.session] : []))
  }

  removals(name: string): number {
    return this.calls.filter((c) => c.op === 'remove' && c.name === name).length
  }
}

/**
 * The live control connection of an established node session. It keeps the connection alive
 * (ping after `pingIntervalMs` of silence, lost after `idleTimeoutMs` without a frame), delivers the
 * peer's inventory updates, and reports the loss of the connection once. It decides nothing: what a
 * loss means for the tunnel is the peer state machine's call.
 */
import { EventEmitter } from 'node:events'
import type { FramedConnection } from './connection.js'
import type { WorkloadEntry } from './protocol.js'
import type { HandshakeTiming } from './timing.js'

export interface NodeChannelEvents {
  /** The peer sent a new inventory (not yet checked against its CIDRs: see checkInventory). */
  inventory: [workloads: WorkloadEntry[]]
  /** The connection is gone. `planned` = the peer said bye (e.g. superseded by a re-handshake). */
  lost: [why: string, planned: boolean]
}

export class NodeChannel extends EventEmitter<NodeChannelEvents> {
  readonly #conn: FramedConnection
  readonly #timing: HandshakeTiming
  #timer: NodeJS.Timeout | undefined
  #lastSentAt = Date.now()
  #closed = false
  #byeReason: string | undefined
  /** An inventory that arrived before anyone listened (the peer adopts the session a tick later). */
  #early: WorkloadEntry[] | undefined

  constructor(conn: FramedConnection, timing: HandshakeTiming) {
    super()
    this.#conn = conn
    this.#timing = timing
    conn.setHandlers({
      message: (m) => {
        switch (m.type) {
          case 'ping':
            this.#send({ type: 'pong' })
            break
          case 'pong':
            break // liveness only: receiving it already refreshed lastReceivedAt
          case 'inventory':
            if (this.listenerCount('inventory') === 0) this.#early = m.workloads
            else this.emit('inventory', m.workloads)
            break
          case 'bye':
            this.#byeReason = m.reason
            conn.close()
            break
          default:
            conn.destroy(`unexpected ${m.type} message on an established connection`)
        }
      },
      end: (why) => this.#lost(this.#byeReason !== undefined ? `the peer said bye: ${this.#byeReason}` : why),
    })
    if (conn.ended) queueMicrotask(() => this.#lost('the connection closed'))
    else this.#arm()
  }

  get closed(): boolean {
    return this.#closed
  }

  /** The latest inventory received before an `inventory` listener was attached, once. */
  takeEarlyInventory(): WorkloadEntry[] | undefined {
    const w = this.#early
    this.#early = undefined
    return w
  }

  /** Send this node's current inventory to the peer. */
  sendInventory(workloads: WorkloadEntry[]): void {
    this.#send({ type: 'inventory', workloads })
  }

  /** Close on purpose (superseded, peer removed, daemon stopping); emits no `lost`. */
  close(reason: string): void {
    if (this.#closed) return
    this.#closed = true
    this.#disarm()
    this.#conn.close({ type: 'bye', reason })
  }

  #send(m: Parameters<FramedConnection['send']>[0]): void {
    this.#lastSentAt = Date.now()
    this.#conn.send(m)
  }

  #arm(): void {
    const tick = Math.max(50, Math.min(this.#timing.pingIntervalMs, this.#timing.idleTimeoutMs) / 2)
    this.#timer = setInterval(() => {
      const now = Date.now()
      if (now - this.#conn.lastReceivedAt >= this.#timing.idleTimeoutMs) {
        this.#conn.destroy(`nothing received for ${this.#timing.idleTimeoutMs} ms`)
        return
      }
      if (now - this.#lastSentAt >= this.#timing.pingIntervalMs) this.#send({ type: 'ping' })
    }, tick)
    this.#timer.unref()
  }

  #disarm(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = undefined
  }

  #lost(why: string): void {
    this.#disarm()
    if (this.#closed) return
    this.#closed = true
    this.emit('lost', why, this.#byeReason !== undefined)
  }
}

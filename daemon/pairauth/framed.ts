/**
 * A pair-auth connection: the node protocol's framed connection (handshake/connection.ts) carrying
 * the pair messages of protocol.ts. Closing it is quiet: no handler is called after `close`.
 */
import type { TLSSocket } from 'node:tls'
import { FramedConnection } from '../handshake/connection.js'
import { PAIR_FRAME_LIMITS, type PairMessage, pairMessageSchema } from './protocol.js'

export class PairConnection extends FramedConnection<PairMessage> {
  constructor(socket: TLSSocket) {
    super(socket, pairMessageSchema, PAIR_FRAME_LIMITS)
  }

  /** Send a last message (if any) and close; no handler is called after this. */
  override close(last?: PairMessage): void {
    super.close(last, true)
  }
}

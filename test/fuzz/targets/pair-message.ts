/**
 * Fuzz target: what a peer daemon sends on 7444 after TLS — pair-auth frames under their own limits
 * (16 KiB, flat), each against the pair protocol's schema. Anything thrown but FrameError is a crash.
 */
import { FrameDecoder, FrameError } from '../../../daemon/handshake/framing.js'
import { PAIR_FRAME_LIMITS, pairMessageSchema } from '../../../daemon/pairauth/protocol.js'
import { isPairReason } from '../../../daemon/pairauth/reasons.js'

export function fuzz(data: Buffer): void {
  let frames: unknown[]
  try {
    frames = new FrameDecoder(PAIR_FRAME_LIMITS).push(data)
  } catch (err) {
    if (err instanceof FrameError) return
    throw err
  }
  for (const f of frames) {
    const m = pairMessageSchema.safeParse(f)
    if (m.success && m.data.type === 'refuse') isPairReason(m.data.reason)
  }
}

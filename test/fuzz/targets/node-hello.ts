/**
 * Fuzz target: what a peer node sends on 7443 after TLS — the frame stream, each frame against the
 * node protocol's schema, and every hello through checkHello() as the exchange runs it (the peer's
 * identity and our trust anchor are those of fixtures/hello-context.ts). Refusals are answers;
 * anything thrown is a crash.
 */
import { checkHello } from '../../../daemon/handshake/check-peer.js'
import { FrameDecoder, FrameError } from '../../../daemon/handshake/framing.js'
import { messageSchema } from '../../../daemon/handshake/protocol.js'
import { HELLO_CONTEXT } from '../fixtures/hello-context.js'

const peer = {
  ...HELLO_CONTEXT.peer,
  ips: [...HELLO_CONTEXT.peer.ips],
  notAfter: new Date(HELLO_CONTEXT.peer.notAfter),
}
const ctx = {
  rootPem: HELLO_CONTEXT.rootPem,
  trustDomain: HELLO_CONTEXT.trustDomain,
  now: new Date(HELLO_CONTEXT.now),
  localWgPublicKey: HELLO_CONTEXT.localWgPublicKey,
}

export function fuzz(data: Buffer): void {
  let frames: unknown[]
  try {
    frames = new FrameDecoder().push(data)
  } catch (err) {
    if (err instanceof FrameError) return
    throw err
  }
  for (const f of frames) {
    const m = messageSchema.safeParse(f)
    if (!m.success || m.data.type !== 'hello') continue
    const v = checkHello(m.data, peer, ctx)
    if (!v.ok && (typeof v.reason !== 'string' || typeof v.message !== 'string')) {
      throw new Error(`checkHello returned a refusal without reason or message: ${JSON.stringify(v)}`)
    }
  }
}

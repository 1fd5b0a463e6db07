/**
 * A pair-auth connection's messages: the node protocol's framing (handshake/framing.ts) carrying the
 * pair messages of protocol.ts. Reports each valid message, or the end of the connection, once.
 */
import type { TLSSocket } from 'node:tls'
import { encodeFrame, FrameDecoder } from '../handshake/framing.js'
import { type PairMessage, pairMessageSchema } from './protocol.js'

export interface FramedHandlers {
  message: (m: PairMessage) => void
  /** The connection ended or broke the protocol; `protocolError` tells which. */
  end: (why: string, protocolError: boolean) => void
}

/** How long a closing side waits for the peer to read its last message before destroying the socket. */
const LINGER_MS = 2000

export class PairConnection {
  readonly socket: TLSSocket
  readonly #decoder = new FrameDecoder()
  #handlers: FramedHandlers | undefined
  #ended = false

  constructor(socket: TLSSocket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('end', () => this.#end('the peer closed the connection', false))
    socket.on('close', () => this.#end('the connection closed', false))
    socket.on('error', (err) => this.#end(`connection error: ${err.message}`, false))
  }

  setHandlers(h: FramedHandlers): void {
    this.#handlers = h
  }

  send(m: PairMessage): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(m))
  }

  /** Send a last message (if any) and close; no handler is called after this. */
  close(last?: PairMessage): void {
    if (last) this.send(last)
    this.#ended = true
    this.socket.end()
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  #onData(chunk: Buffer): void {
    if (this.#ended) return
    let frames: unknown[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.#protocolError((err as Error).message)
      return
    }
    for (const f of frames) {
      if (this.#ended) return
      const parsed = pairMessageSchema.safeParse(f)
      if (!parsed.success) {
        const first = parsed.error.issues[0]
        this.#protocolError(
          `invalid message: ${first ? `${first.path.join('.')}: ${first.message}` : 'unknown'}`,
        )
        return
      }
      this.#handlers?.message(parsed.data)
    }
  }

  #protocolError(why: string): void {
    this.#end(why, true)
    this.socket.destroy()
  }

  #end(why: string, protocolError: boolean): void {
    if (this.#ended) return
    this.#ended = true
    this.#handlers?.end(why, protocolError)
  }
}

/**
 * A TLS socket speaking the framed protocol: decodes frames, validates each message against the
 * protocol schema, and reports the end of the connection exactly once. Used by the exchange and then
 * by the live channel, so no buffered byte is lost between the two.
 */
import type { TLSSocket } from 'node:tls'
import { encodeFrame, FrameDecoder } from './framing.js'
import { type Message, messageSchema } from './protocol.js'

export interface ConnectionHandlers {
  message: (m: Message) => void
  /** The connection ended; `why` is a short description (peer closed, protocol error, local close). */
  end: (why: string, protocolError: boolean) => void
}

export class FramedConnection {
  readonly socket: TLSSocket
  /** Time of the last frame received (ms since epoch). */
  lastReceivedAt = Date.now()
  #decoder = new FrameDecoder()
  #handlers: ConnectionHandlers | undefined
  #ended = false

  constructor(socket: TLSSocket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('end', () => this.#end('the peer closed the connection', false))
    socket.on('close', () => this.#end('the connection closed', false))
    socket.on('error', (err) => this.#end(`connection error: ${err.message}`, false))
  }

  get ended(): boolean {
    return this.#ended
  }

  setHandlers(h: ConnectionHandlers): void {
    this.#handlers = h
  }

  send(m: Message): void {
    if (this.#ended || this.socket.destroyed) return
    this.socket.write(encodeFrame(m))
  }

  /** Send a last message (if any), then close both directions. */
  close(last?: Message): void {
    if (this.#ended) return
    if (last) this.send(last)
    this.#end('closed locally', false)
    this.socket.end()
    // a peer that never reads must not keep the socket alive forever
    setTimeout(() => this.socket.destroy(), 2000).unref()
  }

  destroy(why: string): void {
    this.#end(why, false)
    this.socket.destroy()
  }

  #onData(chunk: Buffer): void {
    if (this.#ended) return
    this.lastReceivedAt = Date.now()
    let frames: unknown[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.#protocolError((err as Error).message)
      return
    }
    for (const f of frames) {
      if (this.#ended) return
      const parsed = messageSchema.safeParse(f)
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

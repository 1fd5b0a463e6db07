/**
 * A TLS socket speaking latch's framed protocols: decodes frames, validates each message against the
 * protocol's schema, and reports the end of the connection exactly once. The node handshake uses it
 * for the exchange and then the live channel (so no buffered byte is lost between the two); pair
 * authentication (daemon/pairauth) uses it with its own message schema.
 */
import type { TLSSocket } from 'node:tls'
import type { ZodType } from 'zod'
import { encodeFrame, FrameDecoder, type FrameLimits } from './framing.js'
import type { Message } from './protocol.js'

export interface ConnectionHandlers<M = Message> {
  message: (m: M) => void
  /** The connection ended; `why` is a short description (peer closed, protocol error, local close). */
  end: (why: string, protocolError: boolean) => void
}

/** How long a closing side waits for the peer to read its last message before destroying the socket. */
const LINGER_MS = 2000

export class FramedConnection<M = Message> {
  readonly socket: TLSSocket
  /** Time of the last frame received (ms since epoch). */
  lastReceivedAt = Date.now()
  readonly #schema: ZodType<M>
  readonly #decoder: FrameDecoder
  #handlers: ConnectionHandlers<M> | undefined
  #ended = false

  /** `limits`: the frame size and JSON depth this protocol allows (default: the node protocol's). */
  constructor(socket: TLSSocket, schema: ZodType<M>, limits?: FrameLimits) {
    this.socket = socket
    this.#schema = schema
    this.#decoder = new FrameDecoder(limits)
    socket.on('data', (chunk: Buffer) => this.#onData(chunk))
    socket.on('end', () => this.#end('the peer closed the connection', false))
    socket.on('close', () => this.#end('the connection closed', false))
    socket.on('error', (err) => this.#end(`connection error: ${err.message}`, false))
  }

  get ended(): boolean {
    return this.#ended
  }

  setHandlers(h: ConnectionHandlers<M>): void {
    this.#handlers = h
  }

  send(m: M): void {
    if (this.#ended || this.socket.destroyed) return
    this.socket.write(encodeFrame(m))
  }

  /**
   * Send a last message (if any), then close both directions. The end handler hears 'closed locally',
   * unless `quiet`: then no handler is called after this.
   */
  close(last?: M, quiet = false): void {
    if (this.#ended) return
    if (last) this.send(last)
    if (quiet) this.#handlers = undefined
    this.#end('closed locally', false)
    this.socket.end()
    // a peer that never reads must not keep the socket alive forever
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
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
      const parsed = this.#schema.safeParse(f)
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

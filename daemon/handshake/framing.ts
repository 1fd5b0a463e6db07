/**
 * Framing of the node control connection: each message is a 4-byte big-endian length followed by
 * that many bytes of UTF-8 JSON. Frames above MAX_FRAME_BYTES end the connection (a peer cannot make
 * us buffer without bound). Pure: bytes in, values out.
 */

export const MAX_FRAME_BYTES = 1 << 20
const HEADER_BYTES = 4

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8')
  if (body.length > MAX_FRAME_BYTES) {
    throw new RangeError(`a message of ${body.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte frame limit`)
  }
  const frame = Buffer.allocUnsafe(HEADER_BYTES + body.length)
  frame.writeUInt32BE(body.length, 0)
  body.copy(frame, HEADER_BYTES)
  return frame
}

export class FrameError extends Error {}

/** Accumulates stream chunks and yields every complete frame's parsed JSON. */
export class FrameDecoder {
  #buffered: Buffer[] = []
  #length = 0

  /** Feed one chunk; returns the messages it completed. Throws FrameError on a bad frame. */
  push(chunk: Buffer): unknown[] {
    this.#buffered.push(chunk)
    this.#length += chunk.length
    const out: unknown[] = []
    while (this.#length >= HEADER_BYTES) {
      const head = this.#peek(HEADER_BYTES)
      const size = head.readUInt32BE(0)
      if (size > MAX_FRAME_BYTES)
        throw new FrameError(`frame of ${size} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`)
      if (this.#length < HEADER_BYTES + size) break
      const frame = this.#take(HEADER_BYTES + size)
      try {
        out.push(JSON.parse(frame.subarray(HEADER_BYTES).toString('utf8')))
      } catch (err) {
        throw new FrameError(`frame is not JSON: ${(err as Error).message}`)
      }
    }
    return out
  }

  #peek(n: number): Buffer {
    const first = this.#buffered[0]!
    if (first.length >= n) return first
    const joined = Buffer.concat(this.#buffered)
    this.#buffered = [joined]
    return joined
  }

  #take(n: number): Buffer {
    const all = this.#buffered.length === 1 ? this.#buffered[0]! : Buffer.concat(this.#buffered)
    const taken = all.subarray(0, n)
    const rest = all.subarray(n)
    this.#buffered = rest.length > 0 ? [rest] : []
    this.#length -= n
    return taken
  }
}

/**
 * Framing of the node control connection: each message is a 4-byte big-endian length followed by
 * that many bytes of UTF-8 JSON. Bounded before anything is parsed (issue 11): a frame above the
 * decoder's `maxFrameBytes` ends the connection as soon as its header arrives (a peer cannot make us
 * buffer without bound), and a frame nesting arrays/objects deeper than `maxDepth` is refused by a
 * byte scan before JSON.parse sees it (no protocol message nests deeper than a few levels). Pure:
 * bytes in, values out.
 */

export const MAX_FRAME_BYTES = 1 << 20
/** The deepest nesting of the node protocol is hello.workloads[].ips[] (4); a little room. */
export const MAX_JSON_DEPTH = 8
const HEADER_BYTES = 4

export interface FrameLimits {
  maxFrameBytes: number
  maxDepth: number
}

const NODE_LIMITS: FrameLimits = { maxFrameBytes: MAX_FRAME_BYTES, maxDepth: MAX_JSON_DEPTH }

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d

/**
 * The deepest array/object nesting of JSON text `bytes`, counting brackets outside strings, or
 * `limit + 1` as soon as it exceeds `limit` (the scan stops there). Malformed text is JSON.parse's
 * to refuse; this only bounds what it is given.
 */
export function jsonDepth(bytes: Uint8Array, limit = Number.MAX_SAFE_INTEGER): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (inString) {
      if (b === BACKSLASH) i++
      else if (b === QUOTE) inString = false
    } else if (b === QUOTE) inString = true
    else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      depth++
      if (depth > deepest) {
        deepest = depth
        if (deepest > limit) return deepest
      }
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) depth--
  }
  return deepest
}

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
  readonly #limits: FrameLimits

  constructor(limits: FrameLimits = NODE_LIMITS) {
    this.#limits = limits
  }

  /** Feed one chunk; returns the messages it completed. Throws FrameError on a bad frame. */
  push(chunk: Buffer): unknown[] {
    this.#buffered.push(chunk)
    this.#length += chunk.length
    const out: unknown[] = []
    while (this.#length >= HEADER_BYTES) {
      const head = this.#peek(HEADER_BYTES)
      const size = head.readUInt32BE(0)
      const { maxFrameBytes, maxDepth } = this.#limits
      if (size > maxFrameBytes)
        throw new FrameError(`frame of ${size} bytes exceeds the ${maxFrameBytes}-byte limit`)
      if (this.#length < HEADER_BYTES + size) break
      const body = this.#take(HEADER_BYTES + size).subarray(HEADER_BYTES)
      if (jsonDepth(body, maxDepth) > maxDepth)
        throw new FrameError(`frame nests deeper than ${maxDepth} levels`)
      try {
        out.push(JSON.parse(body.toString('utf8')))
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

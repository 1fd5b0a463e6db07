/**
 * Fuzz target: the frame decoder as a stream. The first byte picks where the rest is cut in two;
 * decoding it whole and in two chunks must give the same frames or the same FrameError — a decoder
 * that depends on how TCP cut the bytes is a crash, as is any other exception.
 */
import { isDeepStrictEqual } from 'node:util'
import { FrameDecoder, FrameError } from '../../../daemon/handshake/framing.js'

type Result = { frames: unknown[] } | { error: string }

function decode(chunks: Buffer[]): Result {
  const d = new FrameDecoder()
  const frames: unknown[] = []
  try {
    for (const c of chunks) frames.push(...d.push(c))
  } catch (err) {
    if (!(err instanceof FrameError)) throw err
    return { error: 'FrameError' }
  }
  return { frames }
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return
  const body = data.subarray(1)
  const cut = body.length === 0 ? 0 : data[0]! % (body.length + 1)
  const whole = decode([body])
  const split = decode([body.subarray(0, cut), body.subarray(cut)])
  if (!isDeepStrictEqual(whole, split)) {
    throw new Error(`cut at ${cut}: whole ${JSON.stringify(whole)} vs split ${JSON.stringify(split)}`)
  }
}

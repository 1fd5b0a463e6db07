/**
 * The frame decoder is bounded before anything is parsed (issue 11): size from the header, nesting
 * depth by a byte scan, per protocol (the node protocol's 1 MiB / 8 levels, pair auth's 16 KiB / flat).
 */
import test from 'ava'
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  jsonDepth,
  MAX_FRAME_BYTES,
  MAX_JSON_DEPTH,
} from '../../daemon/handshake/framing.js'
import { PAIR_FRAME_LIMITS } from '../../daemon/pairauth/protocol.js'

const frame = (text: string) => {
  const body = Buffer.from(text, 'utf8')
  const head = Buffer.alloc(4)
  head.writeUInt32BE(body.length)
  return Buffer.concat([head, body])
}

const depths: [string, string, number][] = [
  ['a scalar has depth 0', '42', 0],
  ['an empty object has depth 1', '{}', 1],
  ['a hello-like inventory has depth 4', '{"workloads":[{"id":"x","ips":["10.0.0.1"]}]}', 4],
  ['brackets inside strings do not count', '{"a":"[[[[{{{{"}', 1],
  ['an escaped quote does not end the string', '{"a":"\\"[[[["}', 1],
  ['an escaped backslash before the closing quote ends it', '{"a":"\\\\","b":[[1]]}', 3],
  ['siblings do not add up', '[[1],[2],[3]]', 2],
]
for (const [name, text, want] of depths) {
  test(`jsonDepth: ${name}`, (t) => {
    t.is(jsonDepth(Buffer.from(text)), want)
  })
}

test('jsonDepth stops scanning once past the limit', (t) => {
  t.is(jsonDepth(Buffer.from('['.repeat(100_000)), 8), 9)
})

test('a frame nested deeper than the node limit is refused before JSON.parse', (t) => {
  const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`
  t.throws(() => new FrameDecoder().push(frame(deep)), { instanceOf: FrameError, message: /deeper than 8/ })
  const ok = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`
  t.deepEqual(new FrameDecoder().push(frame(ok)).length, 1)
})

test('a hostile 1 MiB frame of open brackets is refused without a stack overflow', (t) => {
  const body = '['.repeat(MAX_FRAME_BYTES)
  t.throws(() => new FrameDecoder().push(frame(body)), { instanceOf: FrameError })
})

test('an oversized frame is refused from its header, before its body arrives', (t) => {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(MAX_FRAME_BYTES + 1)
  t.throws(() => new FrameDecoder().push(head), { instanceOf: FrameError, message: /exceeds/ })
})

test('pair-auth frames are flat and at most 16 KiB', (t) => {
  const pair = () => new FrameDecoder(PAIR_FRAME_LIMITS)
  t.deepEqual(pair().push(encodeFrame({ type: 'accept', expiresAt: 1 })), [{ type: 'accept', expiresAt: 1 }])
  t.throws(() => pair().push(frame('{"type":"refuse","reason":{"x":1}}')), { message: /deeper than 1/ })
  const head = Buffer.alloc(4)
  head.writeUInt32BE(PAIR_FRAME_LIMITS.maxFrameBytes + 1)
  t.throws(() => pair().push(head), { instanceOf: FrameError })
  // the largest legitimate refusal (2048 characters that each escape to 6 bytes) fits
  const refusal = { type: 'refuse', reason: 'policy_denied', message: '\u0001'.repeat(2048) }
  t.is(pair().push(encodeFrame(refusal)).length, 1)
})

import { once } from 'node:events'
import { connect as connectTcp, createServer, type Socket } from 'node:net'
import { connect } from 'node:tls'
import test from 'ava'
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from '../../daemon/handshake/framing.js'
import {
  checkInventory,
  dialPeer,
  HandshakeServer,
  type HandshakeTiming,
} from '../../daemon/handshake/index.js'
import { HandshakePki, TD } from './fixture.js'
import { handshakePair } from './pair.js'

const n1 = { name: 'node1', index: 1 }
const n2 = { name: 'node2', index: 2 }
const fast: HandshakeTiming = { handshakeTimeoutMs: 1500, pingIntervalMs: 100, idleTimeoutMs: 400 }

let pki: HandshakePki
test.before(async () => {
  pki = await HandshakePki.create()
  await pki.issue(n1)
  await pki.issue(n2)
})
test.after.always(async () => pki?.remove())

test('frames survive arbitrary splits and several per chunk', (t) => {
  const msgs = [{ type: 'ping' }, { type: 'bye', reason: 'x'.repeat(1000) }, { type: 'pong' }]
  const bytes = Buffer.concat(msgs.map(encodeFrame))
  for (const size of [1, 3, 7, 100, bytes.length]) {
    const d = new FrameDecoder()
    const out: unknown[] = []
    for (let i = 0; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, i + size)))
    t.deepEqual(out, msgs, `chunks of ${size}`)
  }
})

test('an oversized or non-JSON frame is a FrameError', (t) => {
  const big = Buffer.alloc(4)
  big.writeUInt32BE(MAX_FRAME_BYTES + 1)
  t.throws(() => new FrameDecoder().push(big), { instanceOf: FrameError })
  const bad = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from('{x}')])
  t.throws(() => new FrameDecoder().push(bad), { instanceOf: FrameError })
})

test('inventory updates flow over the live connection', async (t) => {
  const r = await handshakePair(await pki.local(n1), await pki.local(n2), { timing: fast })
  try {
    if (!r.client.ok || !r.server.ok) return t.fail('no session')
    const update = [{ id: `spiffe://${TD}/ns/lab/sa/new`, ips: ['10.100.1.99'] }]
    const got = once(r.server.session.channel, 'inventory')
    r.client.session.channel.sendInventory(update)
    t.deepEqual((await got)[0], update)
    t.true(checkInventory(update, ['10.100.1.0/24'], TD).ok)
    t.false(checkInventory(update, ['10.100.2.0/24'], TD).ok)
    t.false(
      checkInventory([{ id: `spiffe://${TD}/latch/node/x`, ips: ['10.100.1.9'] }], ['10.100.1.0/24'], TD).ok,
    )
    // idle connections stay up: pings keep them alive well past the idle timeout
    await new Promise((res) => setTimeout(res, 1000))
    t.false(r.client.session.channel.closed)
    t.false(r.server.session.channel.closed)
  } finally {
    await r.close()
  }
})

test('a planned close is a planned loss on the other side', async (t) => {
  const r = await handshakePair(await pki.local(n1), await pki.local(n2), { timing: fast })
  if (!r.client.ok || !r.server.ok) return t.fail('no session')
  const lost = once(r.server.session.channel, 'lost')
  r.client.session.channel.close('superseded by a new handshake')
  const [why, planned] = await lost
  t.true(planned)
  t.regex(why, /superseded/)
  await r.close()
})

test('a peer behind a network partition is detected by the idle timeout', async (t) => {
  // client → proxy → server; the proxy can silently stop forwarding (a partition: no FIN, no RST)
  const server = new HandshakeServer({
    local: await pki.local(n2),
    isKnownPeer: () => true,
    onOutcome: () => undefined,
    timing: fast,
  })
  const { port } = await server.listen('127.0.0.1', 0)
  const links: Socket[] = []
  const proxy = createServer((c) => {
    const u = connectTcp(port, '127.0.0.1')
    links.push(c, u)
    c.pipe(u)
    u.pipe(c)
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
  try {
    const o = await dialPeer({
      local: await pki.local(n1),
      peer: { name: 'node2', address: '127.0.0.1', port: (proxy.address() as { port: number }).port },
      timing: fast,
    })
    if (!o.ok) return t.fail(o.refusal.message)
    const lost = once(o.session.channel, 'lost')
    const started = Date.now()
    for (const l of links) {
      l.unpipe()
      l.pause()
    }
    const [why, planned] = await lost
    t.false(planned)
    t.regex(why, /nothing received/)
    t.true(Date.now() - started < 3000)
  } finally {
    for (const l of links) l.destroy()
    proxy.close()
    await server.close(true)
  }
})

test('TLS 1.2 clients are refused', async (t) => {
  const local = await pki.local(n2)
  const server = new HandshakeServer({ local, isKnownPeer: () => true, onOutcome: () => undefined })
  const { port } = await server.listen('127.0.0.1', 0)
  try {
    const client = await pki.local(n1)
    const s = connect({
      host: '127.0.0.1',
      port,
      ca: client.rootPem,
      cert: client.certPem,
      key: client.keyPem,
      maxVersion: 'TLSv1.2',
      rejectUnauthorized: false,
    })
    const [err] = (await once(s, 'error')) as [Error]
    t.regex(err.message, /version|protocol/i)
  } finally {
    await server.close(true)
  }
})

test('a server that accepts TCP but never speaks TLS times out', async (t) => {
  const mute = createServer(() => undefined)
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r))
  const port = (mute.address() as { port: number }).port
  try {
    const o = await dialPeer({
      local: await pki.local(n1),
      peer: { name: 'node2', address: '127.0.0.1', port },
      timing: fast,
    })
    t.false(o.ok)
    if (!o.ok) t.is(o.refusal.reason, 'timeout')
    const closed = await dialPeer({
      local: await pki.local(n1),
      peer: { name: 'node2', address: '127.0.0.1', port: 1 },
      timing: fast,
    })
    if (!closed.ok) t.is(closed.refusal.reason, 'unreachable')
  } finally {
    mute.close()
  }
})

/**
 * The listener guard on loopback: an unauthenticated connection is closed at its deadline and
 * past its byte cap; at a listener's, a source's or the process's cap the oldest unauthenticated
 * connection is shed for the new one, and with nothing to shed the new one is refused; an
 * authenticated connection keeps its place and counts are back to zero when clients leave.
 */
import { connect, type Socket } from 'node:net'
import test from 'ava'
import {
  CALM_MS,
  FdBudget,
  GuardedListener,
  type ListenerLimits,
  openFileLimit,
  type ShedReason,
} from '../../daemon/base/conn-guard.js'

const LIMITS: ListenerLimits = {
  maxConnections: 100,
  maxPerSource: 100,
  handshakeTimeoutMs: 60_000,
  maxPreAuthBytes: 1 << 20,
}

interface Harness {
  listener: GuardedListener
  port: number
  served: Socket[]
  shed: Array<[ShedReason, boolean]>
}

async function start(
  t: { teardown(f: () => unknown): void },
  limits: Partial<ListenerLimits>,
  budget?: FdBudget,
) {
  const served: Socket[] = []
  const shed: Array<[ShedReason, boolean]> = []
  const listener = new GuardedListener({
    name: 'test',
    limits: { ...LIMITS, ...limits },
    budget: budget ?? new FdBudget(1000, 0, 100_000),
    serve: (s) => served.push(s),
    events: { shed: (_l, reason, refused) => shed.push([reason, refused]) },
  })
  const { port } = await listener.listen('127.0.0.1', 0)
  t.teardown(() => listener.close(true))
  return { listener, port, served, shed } satisfies Harness
}

function client(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    socket.on('error', () => undefined)
    socket.once('connect', () => resolve({ socket, closed }))
    socket.once('error', reject)
  })
}

const settle = () => new Promise((r) => setTimeout(r, 100))

async function served(h: Harness, n: number): Promise<void> {
  const until = Date.now() + 5000
  while (h.served.length < n && Date.now() < until) await settle()
}

test('an idle unauthenticated connection is closed at its deadline', async (t) => {
  const h = await start(t, { handshakeTimeoutMs: 300 })
  const started = Date.now()
  const c = await client(h.port)
  await c.closed
  const took = Date.now() - started
  t.true(took >= 250 && took < 3000, `closed after ${took} ms`)
  t.deepEqual(h.shed, [['deadline', false]])
  t.deepEqual(h.listener.counts(), { open: 0, unauthenticated: 0 })
})

test('an authenticated connection has no deadline', async (t) => {
  const h = await start(t, { handshakeTimeoutMs: 300 })
  const c = await client(h.port)
  await served(h, 1)
  h.listener.authenticated(h.served[0]!)
  await new Promise((r) => setTimeout(r, 700))
  t.false(c.socket.destroyed)
  t.deepEqual(h.listener.counts(), { open: 1, unauthenticated: 0 })
  c.socket.destroy()
})

test('a connection that sends more than the pre-authentication byte cap is closed', async (t) => {
  const h = await start(t, { maxPreAuthBytes: 1000 })
  const c = await client(h.port)
  c.socket.write(Buffer.alloc(5000))
  await c.closed
  t.deepEqual(h.shed, [['pre_auth_bytes', false]])
})

test('a source at its cap loses its oldest unauthenticated connection to the new one', async (t) => {
  const h = await start(t, { maxPerSource: 3 })
  const cs = []
  for (let i = 0; i < 3; i++) cs.push(await client(h.port))
  await served(h, 3)
  const fourth = await client(h.port)
  await cs[0]!.closed
  await settle()
  t.false(cs[1]!.socket.destroyed)
  t.false(fourth.socket.destroyed)
  t.deepEqual(h.shed, [['source_full', false]])
  t.is(h.listener.counts().open, 3)
  for (const c of [...cs, fourth]) c.socket.destroy()
})

test('a full listener whose connections all authenticated refuses the new one', async (t) => {
  const h = await start(t, { maxConnections: 2 })
  const a = await client(h.port)
  const b = await client(h.port)
  await served(h, 2)
  for (const s of h.served) h.listener.authenticated(s)
  const c = await client(h.port)
  await c.closed
  t.deepEqual(h.shed, [['listener_full', true]])
  t.false(a.socket.destroyed)
  t.false(b.socket.destroyed)
  a.socket.destroy()
  b.socket.destroy()
})

test('the process budget sheds the oldest unauthenticated connection of any listener', async (t) => {
  const budget = new FdBudget(2, 0, 100_000)
  const one = await start(t, {}, budget)
  const two = await start(t, {}, budget)
  const a = await client(one.port)
  await served(one, 1)
  const b = await client(two.port)
  await served(two, 1)
  const c = await client(two.port)
  await a.closed
  t.deepEqual(one.shed, [['fd_budget', false]])
  t.false(b.socket.destroyed)
  t.false(c.socket.destroyed)
  t.is(budget.unauthenticated, 2)
  b.socket.destroy()
  c.socket.destroy()
  await settle()
  t.is(budget.unauthenticated, 0)
})

test('the budget never gives unauthenticated connections the reserved descriptors', (t) => {
  t.is(new FdBudget(1024, 512, 20_000).unauthenticatedCap, 1024)
  t.is(new FdBudget(1024, 512, 1200).unauthenticatedCap, 688)
  t.is(new FdBudget(1024, 512, 100).unauthenticatedCap, 1)
})

test('the open-file limit is read from /proc/self/limits', (t) => {
  t.is(openFileLimit('Max open files            20000                20000                files\n'), 20000)
  t.is(
    openFileLimit('Max open files            unlimited            unlimited            files\n'),
    Number.MAX_SAFE_INTEGER,
  )
  t.is(openFileLimit('nothing here'), undefined)
  t.true((openFileLimit() ?? 0) > 0)
})

test('a period of pressure ends once, CALM_MS after the last shed, with the number shed', async (t) => {
  let clock = 1_000_000
  const budget = new FdBudget(1000, 0, 100_000, () => clock)
  const calm: number[] = []
  budget.onCalm((n) => calm.push(n))
  const h = await start(t, { maxConnections: 1 }, budget)
  const a = await client(h.port)
  await served(h, 1)
  h.listener.authenticated(h.served[0]!)
  const b = await client(h.port)
  await b.closed
  t.deepEqual(h.shed, [['listener_full', true]])
  clock += CALM_MS - 1
  budget.sweep()
  t.deepEqual(calm, [])
  clock += 1
  budget.sweep()
  t.deepEqual(calm, [1])
  clock += CALM_MS
  budget.sweep()
  t.deepEqual(calm, [1], 'nothing shed since: no second end')
  a.socket.destroy()
})

test('with serveOnFirstData a silent connection is not served, and a speaking one gets its bytes intact', async (t) => {
  const served: Socket[] = []
  const listener = new GuardedListener({
    name: 'lazy',
    limits: LIMITS,
    budget: new FdBudget(1000, 0, 100_000),
    serve: (s) => served.push(s),
    serveOnFirstData: true,
  })
  const { port } = await listener.listen('127.0.0.1', 0)
  t.teardown(() => listener.close(true))
  const silent = await client(port)
  await settle()
  t.is(served.length, 0)
  t.is(listener.counts().unauthenticated, 1, 'admitted and bounded all the same')
  const speaking = await client(port)
  speaking.socket.write('hello ')
  await new Promise((r) => setTimeout(r, 50))
  speaking.socket.write('world')
  while (served.length < 1) await settle()
  const got: Buffer[] = []
  served[0]!.on('data', (c: Buffer) => got.push(c))
  served[0]!.resume()
  await settle()
  t.is(Buffer.concat(got).toString(), 'hello world')
  silent.socket.destroy()
  speaking.socket.destroy()
})

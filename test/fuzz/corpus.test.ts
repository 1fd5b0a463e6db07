/**
 * The fuzz targets over their committed corpus (what scripts/fuzz starts from): every input runs
 * without a crash, and the seeds reach deep — the valid hello passes checkHello against the
 * fixture, the policy seeds compile, the control seeds parse — so a fuzzer mutating them explores
 * the parsers, not their first refusal.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { parseRequestLine } from '../../daemon/control/request.js'
import { checkHello } from '../../daemon/handshake/check-peer.js'
import { FrameDecoder } from '../../daemon/handshake/framing.js'
import { type Hello, messageSchema } from '../../daemon/handshake/protocol.js'
import { compilePolicy } from '../../daemon/policy/compile.js'
import { HELLO_CONTEXT } from './fixtures/hello-context.js'

const CORPUS = join(import.meta.dirname, 'corpus')
const TARGETS = ['node-hello', 'pair-message', 'framing', 'policy', 'control']

async function inputs(target: string): Promise<Array<[string, Buffer]>> {
  const dir = join(CORPUS, target)
  const names = (await readdir(dir)).sort()
  return Promise.all(names.map(async (n) => [n, await readFile(join(dir, n))] as [string, Buffer]))
}

for (const target of TARGETS) {
  test(`${target}: every corpus input runs without a crash`, async (t) => {
    const { fuzz } = (await import(`./targets/${target}.js`)) as { fuzz: (b: Buffer) => void }
    const all = await inputs(target)
    t.true(all.length > 0)
    for (const [name, data] of all) t.notThrows(() => fuzz(data), name)
  })
}

test('node-hello: the valid seed passes checkHello against the fixture (the fuzzer starts deep)', async (t) => {
  const data = await readFile(join(CORPUS, 'node-hello', 'hello-valid'))
  const [frame] = new FrameDecoder().push(data)
  const m = messageSchema.parse(frame) as Hello
  const peer = {
    ...HELLO_CONTEXT.peer,
    ips: [...HELLO_CONTEXT.peer.ips],
    notAfter: new Date(HELLO_CONTEXT.peer.notAfter),
  }
  const ctx = { ...HELLO_CONTEXT, now: new Date(HELLO_CONTEXT.now) }
  t.deepEqual(checkHello(m, peer, ctx), { ok: true })
  const outside = await readFile(join(CORPUS, 'node-hello', 'hello-outside-cidrs'))
  t.like(checkHello(messageSchema.parse(new FrameDecoder().push(outside)[0]) as Hello, peer, ctx), {
    ok: false,
    reason: 'cidrs_outside_constraints',
  })
})

test('policy and control: the seeds are valid inputs', async (t) => {
  for (const [name, data] of await inputs('policy')) {
    t.notThrows(() => compilePolicy(data.toString(), { file: name }), name)
  }
  for (const [name, data] of await inputs('control')) {
    for (const line of data.toString().split('\n').filter(Boolean))
      t.true(parseRequestLine(line).ok, `${name}: ${line}`)
  }
})

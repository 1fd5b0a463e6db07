import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { execa } from 'execa'
import type { EngineStatus, PeerSession, WireguardOptions } from '../../daemon/engine/index.js'
import { generatePrivateKey } from '../../daemon/transport/wg-key.js'
import { deleteNs, EngineHost, inNode, inNs, sh } from './helpers/netns.js'

/**
 * Real WireGuard (wireguard-go, through `wg` and rtnetlink) between two network namespaces joined
 * by a veth, each engine in its own mount namespace so /var/run/wireguard is private per node.
 *
 *   latch-t-wga  10.98.0.1 ──veth── 10.98.0.2  latch-t-wgb
 *   latch0 10.101.0.1/32                     latch0 10.101.0.2/32
 *   "workload" 10.100.1.1 on lo              "workload" 10.100.2.1 on lo
 */

const ROOT = '/run/latch-t-wg'
const NS = { a: 'latch-t-wga', b: 'latch-t-wgb', c: 'latch-t-wgc' } as const
const hosts: EngineHost[] = []

const wgOpts = (n: 'a' | 'b' | 'c', i: number): WireguardOptions => ({
  interface: 'latch0',
  listenPort: 51820,
  address: `10.101.0.${i}/32`,
  privateKeyFile: `${ROOT}/${n}/wg.key`,
  backend: 'auto',
})

function host(n: 'a' | 'b' | 'c'): EngineHost {
  const h = new EngineHost(NS[n], `${ROOT}/${n}/wireguard`)
  hosts.push(h)
  return h
}

function sessionFor(name: string, publicKey: string, i: number, psk: string): PeerSession {
  return {
    name,
    wgPublicKey: publicKey,
    presharedKey: psk,
    endpoint: `10.98.0.${i}:51820`,
    tunnelAddress: `10.101.0.${i}/32`,
    workloadCidrs: [`10.100.${i}.0/24`],
    establishedAt: new Date(),
  }
}

async function cleanup(): Promise<void> {
  for (const h of hosts.splice(0)) await h.kill().catch(() => undefined)
  for (const ns of Object.values(NS)) await deleteNs(ns)
  rmSync(ROOT, { recursive: true, force: true })
}

async function wgPids(ns: string): Promise<number[]> {
  const pids = (await sh('ip', ['netns', 'pids', ns])).split(/\s+/).filter(Boolean).map(Number)
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'wireguard-go'
    } catch {
      return false
    }
  })
}

async function ifindex(ns: string): Promise<number> {
  return Number(readIfindex(await inNs(ns, 'ip', ['-o', 'link', 'show', 'latch0'])))
}
const readIfindex = (line: string): string => line.split(':')[0] ?? ''

async function pings(ns: string, dst: string, count = 3): Promise<boolean> {
  const r = await execa(
    'ip',
    ['netns', 'exec', ns, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', dst],
    { reject: false },
  )
  return r.exitCode === 0
}

async function pingsWithin(ns: string, dst: string, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) if (await pings(ns, dst, 1)) return true
  return false
}

/**
 * A TCP stream from A's workload to B's workload over the tunnel: random data is written in
 * chunks at a steady pace (so things can happen while it runs), recorded on both ends, compared
 * by SHA-256.
 */
async function stream(
  chunks: number,
  port: number,
): Promise<{ done: Promise<{ sent: string; received: string; bytes: number }> }> {
  const sent = `${ROOT}/sent-${port}`
  const received = `${ROOT}/received-${port}`
  const recv = execa('ip', [
    'netns',
    'exec',
    NS.b,
    'socat',
    '-u',
    `TCP-LISTEN:${port},bind=10.100.2.1,reuseaddr`,
    `OPEN:${received},creat,trunc`,
  ])
  const gen = `for i in $(seq 1 ${chunks}); do head -c 32768 /dev/urandom; sleep 0.02; done | tee ${sent}`
  const send = execa('ip', [
    'netns',
    'exec',
    NS.a,
    'socat',
    '-u',
    `SYSTEM:${gen}`,
    `TCP:10.100.2.1:${port},retry=50,interval=0.1`,
  ])
  return {
    done: (async () => {
      await send
      await recv
      const hash = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex')
      return { sent: hash(sent), received: hash(received), bytes: readFileSync(received).length }
    })(),
  }
}

test.before(async () => {
  await cleanup()
  for (const n of ['a', 'b', 'c']) mkdirSync(`${ROOT}/${n}/wireguard`, { recursive: true, mode: 0o700 })
  for (const ns of Object.values(NS)) await sh('ip', ['netns', 'add', ns])
  await sh('ip', [
    'link',
    'add',
    'latch-t-wa',
    'netns',
    NS.a,
    'type',
    'veth',
    'peer',
    'name',
    'latch-t-wb',
    'netns',
    NS.b,
  ])
  for (const [ns, dev, i] of [
    [NS.a, 'latch-t-wa', 1],
    [NS.b, 'latch-t-wb', 2],
  ] as const) {
    await inNs(ns, 'ip', ['link', 'set', 'lo', 'up'])
    await inNs(ns, 'ip', ['link', 'set', dev, 'up'])
    await inNs(ns, 'ip', ['addr', 'add', `10.98.0.${i}/24`, 'dev', dev])
    await inNs(ns, 'ip', ['addr', 'add', `10.100.${i}.1/32`, 'dev', 'lo'])
  }
  await inNs(NS.c, 'ip', ['link', 'set', 'lo', 'up'])
})

test.after.always(cleanup)

/** Namespace C emptied (its engine host and wireguard-go killed) and made again. */
async function freshNs(n: 'c'): Promise<void> {
  await deleteNs(NS[n])
  rmSync(`${ROOT}/${n}`, { recursive: true, force: true })
  mkdirSync(`${ROOT}/${n}/wireguard`, { recursive: true, mode: 0o700 })
  await sh('ip', ['netns', 'add', NS[n]])
  await inNs(NS[n], 'ip', ['link', 'set', 'lo', 'up'])
}

/** The engine currently running in A (replaced by the SIGKILL test). */
let engineA: EngineHost | undefined
let pubA = ''
let pubB = ''

test.serial('two engines build a working tunnel, and only when both hold the same PSK', async (t) => {
  const [a, b] = [host('a'), host('b')]
  engineA = a
  const sa = await a.call<{ publicKey: string; adopted: boolean }>('start', { wireguard: wgOpts('a', 1) })
  const sb = await b.call<{ publicKey: string; adopted: boolean }>('start', { wireguard: wgOpts('b', 2) })
  t.false(sa.adopted)
  t.false(sb.adopted)
  pubA = sa.publicKey
  pubB = sb.publicKey
  t.is((await wgPids(NS.a)).length, 1, 'wireguard-go runs for latch0 in A')

  // different PSKs: WireGuard handshakes fail, no traffic
  const up = (h: EngineHost, s: PeerSession) =>
    h.call<{ changed: boolean; actions: string[] }>('upsert', { session: s, flush: true })
  t.true((await up(a, sessionFor('nodeb', pubB, 2, generatePrivateKey()))).changed)
  t.true((await up(b, sessionFor('nodea', pubA, 1, generatePrivateKey()))).changed)
  t.false(await pings(NS.a, '10.101.0.2', 2), 'no tunnel while the PSKs differ')

  // the same PSK (as the TLS exporter gives both sides): the tunnel comes up
  const psk = generatePrivateKey()
  t.deepEqual(await up(a, sessionFor('nodeb', pubB, 2, psk)), {
    changed: true,
    actions: ['wg peer update nodeb (preshared-key)'],
  })
  t.true((await up(b, sessionFor('nodea', pubA, 1, psk))).changed)
  t.true(await pingsWithin(NS.a, '10.101.0.2', 15_000), 'tunnel address reachable')
  t.true(await pings(NS.a, '10.100.2.1'), "B's workload CIDR is routed through the tunnel")
  t.true(await pings(NS.b, '10.100.1.1'), "A's workload CIDR is routed through the tunnel")

  // the kernel state is what the engine says
  t.regex(await inNs(NS.a, 'ip', ['route', 'show', 'proto', '76']), /10\.100\.2\.0\/24 dev latch0/)
  const st = await a.call<EngineStatus>('status')
  t.is(st.peers.length, 1)
  t.like(st.peers[0], { name: 'nodeb', publicKey: pubB, endpoint: '10.98.0.2:51820', hasPresharedKey: true })
  t.true((st.peers[0]?.rxBytes ?? 0) > 0)
  t.truthy(st.peers[0]?.latestHandshake)
  t.false(JSON.stringify(st).includes(psk))

  // idempotent: the same desired state again runs only the read (one UAPI get: no process at all)
  await a.call('transcript')
  t.deepEqual(await up(a, sessionFor('nodeb', pubB, 2, psk)), { changed: false, actions: [] })
  t.deepEqual(await a.call('transcript'), [])
})

test.serial('rotating the PSK on both sides 3 times under a running TCP stream loses nothing', async (t) => {
  const [a, b] = hosts
  if (!a || !b) return t.fail('the first test did not start the engines')
  const s = await stream(200, 5001)
  let psk = ''
  for (let i = 0; i < 3; i++) {
    await sleep(700)
    psk = generatePrivateKey()
    t.deepEqual(await a.call('upsert', { session: sessionFor('nodeb', pubB, 2, psk), flush: true }), {
      changed: true,
      actions: ['wg peer update nodeb (preshared-key)'],
    })
    t.deepEqual(await b.call('upsert', { session: sessionFor('nodea', pubA, 1, psk), flush: true }), {
      changed: true,
      actions: ['wg peer update nodea (preshared-key)'],
    })
  }
  const r = await s.done
  t.is(r.bytes, 200 * 32768)
  t.is(r.received, r.sent)
  for (const ns of [NS.a, NS.b])
    t.regex(
      await inNode(ns, `${ROOT}/${ns === NS.a ? 'a' : 'b'}/wireguard`, 'wg', [
        'show',
        'latch0',
        'preshared-keys',
      ]),
      new RegExp(psk.replace(/[+/]/g, '\\$&')),
    )
})

test.serial(
  'SIGKILL of the engine mid-stream: traffic continues, the new engine adopts the interface',
  async (t) => {
    const [a, b] = hosts
    if (!a || !b) return t.fail('the first test did not start the engines')
    const pidsBefore = await wgPids(NS.a)
    const indexBefore = await ifindex(NS.a)
    const psk = generatePrivateKey()
    await a.call('upsert', { session: sessionFor('nodeb', pubB, 2, psk), flush: true })
    await b.call('upsert', { session: sessionFor('nodea', pubA, 1, psk), flush: true })

    const s = await stream(150, 5002)
    await sleep(800)
    await a.kill()
    hosts.splice(hosts.indexOf(a), 1)
    await sleep(500)
    const a2 = host('a')
    engineA = a2
    const started = await a2.call<{ publicKey: string; adopted: boolean }>('start', {
      wireguard: wgOpts('a', 1),
    })
    t.true(started.adopted)
    t.is(started.publicKey, pubA)
    const startCmds = await a2.call<string[]>('transcript')
    t.false(
      startCmds.some((c) => c.startsWith('wireguard-go') || c.startsWith('wg set')),
      startCmds.join(' | '),
    )
    t.deepEqual(await wgPids(NS.a), pidsBefore, 'same wireguard-go process')
    t.is(await ifindex(NS.a), indexBefore, 'same interface')

    // the handshake with B is redone with the same PSK: claims the adopted peer, nothing to change
    t.deepEqual(await a2.call('upsert', { session: sessionFor('nodeb', pubB, 2, psk), flush: true }), {
      changed: false,
      actions: [],
    })
    const r = await s.done
    t.is(r.bytes, 150 * 32768)
    t.is(r.received, r.sent)
  },
)

test.serial(
  'when wireguard-go dies, the next reconcile creates the interface again and the tunnel returns',
  async (t) => {
    const a = engineA
    if (a === undefined) return t.fail('the earlier tests did not leave an engine in A')
    const [old] = await wgPids(NS.a)
    if (old === undefined) return t.fail('no wireguard-go in A')
    process.kill(old, 'SIGKILL')
    await sleep(300)
    t.deepEqual(await wgPids(NS.a), [])
    const r = await a.call<{ changed: boolean; actions: string[] }>('flush')
    t.is(r.actions[0], 'wg interface re-created latch0')
    t.true(r.actions.includes('wg peer add nodeb'))
    t.is((await wgPids(NS.a)).length, 1)
    t.true(await pingsWithin(NS.a, '10.100.2.1', 15_000))
  },
)

for (const control of ['uapi', 'wg'] as const)
  test.serial(`1000 peers are programmed by one device write (${control})`, async (t) => {
    await freshNs('c')
    const c = host('c')
    await c.call('start', { wireguard: { ...wgOpts('c', 3), userspaceControl: control } })
    await c.call('transcript')
    const sessions: PeerSession[] = []
    for (let i = 0; i < 1000; i++) {
      const [hi, lo] = [Math.floor(i / 250), i % 250]
      sessions.push({
        name: `peer${i}`,
        wgPublicKey: generatePrivateKey(), // any 32 bytes work as a public key
        presharedKey: generatePrivateKey(),
        endpoint: `10.98.${1 + hi}.${1 + lo}:51820`,
        tunnelAddress: `10.101.${4 + hi}.${1 + lo}/32`,
        workloadCidrs: [`10.${120 + hi}.${lo}.0/24`],
        establishedAt: new Date(),
      })
    }
    const t0 = performance.now()
    const first = await c.call<{ changed: boolean; actions: string[] }>('upsertMany', {
      sessions,
      flush: true,
    })
    const t1 = performance.now()
    const cmds = await c.call<string[]>('transcript')
    t.true(first.changed)
    if (control === 'wg') {
      t.is(cmds.filter((x) => x.startsWith('wg set')).length, 1, 'one wg set for 1000 peers')
      t.is(cmds.length, 2, cmds.join(' | '))
    } else t.deepEqual(cmds, [], 'UAPI: one get and one set on the socket, no process')
    const again = await c.call<{ changed: boolean }>('flush')
    const t2 = performance.now()
    t.false(again.changed)
    t.is(
      (await inNode(NS.c, `${ROOT}/c/wireguard`, 'wg', ['show', 'latch0', 'peers'])).split('\n').length,
      1000,
    )
    // 2000 peer prefixes, routed as their aggregate: per block of 250 peers, tunnel addresses
    // .1-.250 are 13 prefixes (/32 /31 /30 /29 /28 /27 /26 /26 /27 /28 /29 /31 /32) and workload
    // /24s .0-.249 are 6 (/17 /18 /19 /20 /21 /23); 4 blocks → 76 routes, none covering anything else
    const routes = (await inNs(NS.c, 'ip', ['route', 'show', 'proto', '76']))
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .map((r) => (r.includes('/') ? r : `${r}/32`))
    t.is(routes.length, 76, routes.join(' '))
    const span = (cidr: string): [number, number] => {
      const [a, l] = cidr.split('/')
      const n = (a ?? '').split('.').reduce((x, o) => x * 256 + Number(o), 0)
      return [n, n + 2 ** (32 - Number(l))]
    }
    const spans = routes.map(span)
    for (const s of sessions)
      for (const p of [s.tunnelAddress, ...s.workloadCidrs]) {
        const [lo, hi] = span(p)
        t.true(
          spans.some(([a, b]) => a <= lo && hi <= b),
          `${p} is routed`,
        )
      }
    // exactly the peers' addresses: the routes (disjoint) hold as many as the 2000 prefixes
    const size = (xs: Array<[number, number]>): number => xs.reduce((n, [a, b]) => n + b - a, 0)
    t.is(size(spans), size(sessions.flatMap((s) => [s.tunnelAddress, ...s.workloadCidrs]).map(span)))
    for (const [i, [a, b]] of spans.entries())
      for (const [c, d] of spans.slice(i + 1)) t.true(b <= c || d <= a, 'routes are disjoint')
    t.log(
      `1000 peers (${control}): program ${(t1 - t0).toFixed(0)} ms (${routes.length} routes for 2000 prefixes), no-op reconcile ${(t2 - t1).toFixed(0)} ms`,
    )
  })

import test from 'ava'
import { createEngine, type Engine, type PeerSession } from '../../daemon/engine/index.js'
import { fakeHost, psk, session, silent } from './helpers/setup.js'

/**
 * Table-driven replay of desired configs against a modelled `wg` + rtnetlink, comparing the
 * transcript of commands and netlink changes each step produced (tailscale-style).
 */

interface Step {
  name: string
  act: (e: Engine, peers: PeerSession[]) => PeerSession[]
  changed: boolean
  actions: string[]
  /** New lines in the wg transcript (reads included). */
  wg: Array<string | RegExp>
  /** New lines in the netlink transcript (changes only). */
  netlink: string[]
}

const [p2, p3, p4] = [session(2), session(3), session(4)]
const key = (p: PeerSession | undefined): string => p?.wgPublicKey ?? ''
const rotated = { ...p3, presharedKey: psk() }

const steps: Step[] = [
  {
    name: 'the first config adds all peers in one wg process and routes their CIDRs and tunnel addresses, sibling prefixes as one route',
    act: (e) => {
      for (const p of [p2, p3, p4]) e.upsertPeer(p)
      return [p2, p3, p4]
    },
    changed: true,
    actions: [
      ...[p2, p3, p4].sort((a, b) => key(a).localeCompare(key(b))).map((p) => `wg peer add ${p.name}`),
      // node2 + node3: 10.100.2.0/24 + 10.100.3.0/24 and 10.101.0.2/32 + 10.101.0.3/32 are siblings
      'route add 10.100.2.0/23 dev latch0',
      'route add 10.100.4.0/24 dev latch0',
      'route add 10.101.0.2/31 dev latch0',
      'route add 10.101.0.4/32 dev latch0',
    ],
    wg: [
      'wg show latch0 dump',
      new RegExp(
        `^wg set latch0${[p2, p3, p4]
          .sort((a, b) => key(a).localeCompare(key(b)))
          .map(
            (p) =>
              ` peer ${reEscape(key(p))} preshared-key <psk> endpoint ${reEscape(p.endpoint)} persistent-keepalive 25 allowed-ips 10\\.100\\.\\d\\.0/24,10\\.101\\.0\\.\\d/32`,
          )
          .join('')}$`,
      ),
    ],
    netlink: [
      'route add 10.100.2.0/23 dev 10',
      'route add 10.100.4.0/24 dev 10',
      'route add 10.101.0.2/31 dev 10',
      'route add 10.101.0.4/32 dev 10',
    ],
  },
  {
    name: 'the same config again runs no mutating command and reports no change',
    act: (e, peers) => {
      for (const p of peers) e.upsertPeer({ ...p, establishedAt: new Date() })
      return peers
    },
    changed: false,
    actions: [],
    wg: ['wg show latch0 dump'],
    netlink: [],
  },
  {
    name: "one peer's PSK rotated updates only that peer's preshared key",
    act: (e) => {
      e.upsertPeer(rotated)
      return [p2, rotated, p4]
    },
    changed: true,
    actions: ['wg peer update node3 (preshared-key)'],
    wg: ['wg show latch0 dump', `wg set latch0 peer ${key(p3)} preshared-key <psk>`],
    netlink: [],
  },
  {
    name: 'a removed peer is removed from WireGuard and its routes are deleted',
    act: (e) => {
      e.removePeer('node4')
      return [p2, rotated]
    },
    changed: true,
    actions: [
      'wg peer remove node4',
      'route del 10.100.4.0/24 dev latch0',
      'route del 10.101.0.4/32 dev latch0',
    ],
    wg: ['wg show latch0 dump', `wg set latch0 peer ${key(p4)} remove`],
    netlink: ['route del 10.100.4.0/24 dev 10', 'route del 10.101.0.4/32 dev 10'],
  },
  {
    name: 'a new endpoint and an added CIDR update the peer and add the route, nothing else',
    act: (e) => {
      const moved = { ...p2, endpoint: '10.99.0.99:51821', workloadCidrs: ['10.100.2.0/24', '10.102.2.0/24'] }
      e.upsertPeer(moved)
      return [moved, rotated]
    },
    changed: true,
    actions: ['wg peer update node2 (endpoint, allowed-ips)', 'route add 10.102.2.0/24 dev latch0'],
    wg: [
      'wg show latch0 dump',
      `wg set latch0 peer ${key(p2)} endpoint 10.99.0.99:51821 allowed-ips 10.100.2.0/24,10.101.0.2/32,10.102.2.0/24`,
    ],
    netlink: ['route add 10.102.2.0/24 dev 10'],
  },
  {
    name: "removing one of two siblings splits the aggregate: the remaining peer's routes are added before the aggregates go",
    act: (e) => {
      e.removePeer('node3')
      return [{ ...p2, endpoint: '10.99.0.99:51821', workloadCidrs: ['10.100.2.0/24', '10.102.2.0/24'] }]
    },
    changed: true,
    actions: [
      'wg peer remove node3',
      'route add 10.100.2.0/24 dev latch0',
      'route add 10.101.0.2/32 dev latch0',
      'route del 10.100.2.0/23 dev latch0',
      'route del 10.101.0.2/31 dev latch0',
    ],
    wg: ['wg show latch0 dump', `wg set latch0 peer ${key(p3)} remove`],
    netlink: [
      'route add 10.100.2.0/24 dev 10',
      'route add 10.101.0.2/32 dev 10',
      'route del 10.100.2.0/23 dev 10',
      'route del 10.101.0.2/31 dev 10',
    ],
  },
  {
    name: 'removing an unknown peer is a no-op',
    act: (e, peers) => {
      e.removePeer('node9')
      return peers
    },
    changed: false,
    actions: [],
    wg: ['wg show latch0 dump'],
    netlink: [],
  },
]

test('a sequence of desired configs produces exactly the expected commands', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  const started = await engine.start()
  t.false(started.adopted)
  t.deepEqual(nl.transcript, [
    'link add latch0 type wireguard',
    'addr add 10.101.0.1/32 dev 10',
    'link set 10 up',
  ])
  t.deepEqual(
    wg.transcript.map((l) => l.replace(options.privateKeyFile, '<keyfile>')),
    [
      'wireguard-go latch0',
      'wg show latch0 dump',
      'wg show latch0 dump',
      'wg set latch0 listen-port 51820 private-key <keyfile>',
    ],
  )
  let peers: PeerSession[] = []
  for (const step of steps) {
    const wgBefore = wg.transcript.length
    const nlBefore = nl.transcript.length
    peers = step.act(engine, peers)
    const result = await engine.flush()
    const wgLines = wg.transcript.slice(wgBefore)
    t.is(result.changed, step.changed, step.name)
    t.deepEqual(result.actions, step.actions, step.name)
    t.is(wgLines.length, step.wg.length, `${step.name}: ${wgLines.join(' | ')}`)
    step.wg.forEach((want, i) => {
      const got = wgLines[i] ?? ''
      if (typeof want === 'string') t.is(got, want, step.name)
      else t.regex(got, want, step.name)
    })
    t.deepEqual(nl.transcript.slice(nlBefore), step.netlink, step.name)
    // the model now holds exactly the desired peers
    t.deepEqual([...wg.peers.keys()].sort(), peers.map((p) => p.wgPublicKey).sort(), step.name)
  }
  await engine.stop()
})

test('upsertPeer calls within a tick coalesce into one wg process without any flush', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 5 })
  await engine.start()
  const before = wg.mutations
  for (let i = 2; i < 52; i++) engine.upsertPeer(session(i))
  // the one coalesced mutation lands some time later (later still on a loaded machine): wait for
  // its effect, then count the wg processes it took
  for (let waited = 0; wg.peers.size < 50 && waited < 10_000; waited += 20)
    await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 50))
  t.is(wg.mutations - before, 1)
  t.is(wg.peers.size, 50)
  await engine.stop()
})

test('no preshared or private key ever appears on a command line', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  await engine.start()
  const sessions = [session(2), session(3)]
  for (const s of sessions) engine.upsertPeer(s)
  await engine.flush()
  const next = psk()
  engine.upsertPeer({ ...sessions[0]!, presharedKey: next })
  await engine.flush()
  const secrets = [...sessions.map((s) => s.presharedKey), next, wg.privateKey ?? '']
  t.true(secrets.every((s) => s.length === 44))
  for (const argv of wg.argvs) for (const s of secrets) t.false(argv.includes(s))
  t.is(wg.peers.get(sessions[0]!.wgPublicKey)?.presharedKey, next)
  await engine.stop()
})

test('a route deleted behind the engine is put back by the next reconcile', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  await engine.start()
  engine.upsertPeer(session(2))
  await engine.flush()
  nl.routes.get(10)?.delete('10.100.2.0/24')
  const r = await engine.flush()
  t.deepEqual(r.actions, ['route add 10.100.2.0/24 dev latch0'])
  await engine.stop()
})

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

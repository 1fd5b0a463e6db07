import test from 'ava'
import { createEngine } from '../../daemon/engine/index.js'
import { fakeHost, session, silent } from './helpers/setup.js'

test('a restarted engine adopts the interface and its peers instead of re-creating anything', async (t) => {
  const { wg, nl, options } = fakeHost()
  const first = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  const a = await first.start()
  const [p2, p3] = [session(2), session(3)]
  first.upsertPeer(p2)
  first.upsertPeer(p3)
  await first.flush()
  await first.stop()
  const peersBefore = JSON.stringify([...wg.peers])
  const routesBefore = [...(nl.routes.get(10) ?? [])].sort()

  const wgFrom = wg.transcript.length
  const nlFrom = nl.transcript.length
  const second = createEngine({
    wireguard: options,
    logger: silent,
    runner: wg,
    netlink: nl,
    coalesceMs: 1,
    adoptGraceMs: 300,
  })
  const b = await second.start()
  t.true(b.adopted)
  t.is(b.publicKey, a.publicKey)
  // only reads: no wireguard-go, no link/addr changes, no wg set
  t.deepEqual(wg.transcript.slice(wgFrom), [
    'wg show latch0 listen-port',
    'wg show latch0 dump',
    'wg show latch0 dump',
  ])
  t.deepEqual(nl.transcript.slice(nlFrom), [])
  t.is(JSON.stringify([...wg.peers]), peersBefore)

  // the handshake with node2 is redone: it claims its adopted peer, nothing changes
  second.upsertPeer({ ...p2, establishedAt: new Date() })
  t.deepEqual(await second.flush(), { changed: false, actions: [] })
  t.deepEqual([...(nl.routes.get(10) ?? [])].sort(), routesBefore)

  // node3 never comes back: when the grace ends its peer and routes go, without anyone flushing
  const wgAt = wg.transcript.length
  await new Promise((r) => setTimeout(r, 400))
  t.deepEqual(wg.transcript.slice(wgAt), [
    'wg show latch0 dump',
    `wg set latch0 peer ${p3.wgPublicKey} remove`,
  ])
  t.deepEqual([...(nl.routes.get(10) ?? [])].sort(), ['10.100.2.0/24', '10.101.0.2/32'])
  t.deepEqual(await second.flush(), { changed: false, actions: [] })
  t.deepEqual([...wg.peers.keys()], [p2.wgPublicKey])
  const status = await second.status()
  t.deepEqual(
    status.peers.map((p) => ({ name: p.name, hasPsk: p.hasPresharedKey })),
    [{ name: 'node2', hasPsk: true }],
  )
  t.false(JSON.stringify(status).includes(p2.presharedKey))
  await second.stop()
})

test('an adopted peer whose prefixes a new session claims is replaced at once, not after the grace', async (t) => {
  const { wg, nl, options } = fakeHost()
  const first = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  await first.start()
  const old = session(2)
  first.upsertPeer(old)
  await first.flush()
  await first.stop()

  const second = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  await second.start()
  const rekeyed = session(2) // node2 came back with a new WireGuard key
  second.upsertPeer(rekeyed)
  const r = await second.flush()
  t.deepEqual(r.actions, [`wg peer remove ${old.wgPublicKey.slice(0, 8)}…`, 'wg peer add node2'])
  t.deepEqual([...wg.peers.keys()], [rekeyed.wgPublicKey])
  await second.stop()
})

test('a stopped engine leaves the interface, peers and routes in place', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  await engine.start()
  engine.upsertPeer(session(2))
  await engine.flush()
  const before = wg.transcript.length
  await engine.stop()
  t.is(wg.transcript.length, before)
  t.is(wg.peers.size, 1)
  t.is(nl.routes.get(10)?.size, 2)
  t.true(nl.links.has('latch0'))
  await t.throwsAsync(engine.flush(), { code: 'LATCH_ERR_ENGINE_STOPPED' } as never)
  t.throws(() => engine.upsertPeer(session(3)), { code: 'LATCH_ERR_ENGINE_STOPPED' } as never)
})

test('an interface that vanished (wireguard-go died) is created again and fully reprogrammed', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  const { publicKey } = await engine.start()
  const p2 = session(2)
  engine.upsertPeer(p2)
  await engine.flush()
  // the TUN goes away with its process, and the kernel drops its routes and address
  wg.exists = false
  wg.peers.clear()
  wg.privateKey = undefined
  nl.links.delete('latch0')
  nl.routes.clear()
  const r = await engine.flush()
  t.deepEqual(r.actions, [
    'wg interface re-created latch0',
    'wg set private-key',
    'wg set listen-port 51820',
    'wg peer add node2',
    'route add 10.100.2.0/24 dev latch0',
    'route add 10.101.0.2/32 dev latch0',
  ])
  t.is(wg.transcript.filter((l) => l === 'wireguard-go latch0').length, 2)
  t.deepEqual([...wg.peers.keys()], [p2.wgPublicKey])
  t.deepEqual([...(nl.routes.get(11) ?? [])].sort(), ['10.100.2.0/24', '10.101.0.2/32'])
  t.is((await engine.status()).publicKey, publicKey)
  await engine.stop()
})

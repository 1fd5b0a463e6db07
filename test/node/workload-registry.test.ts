/**
 * Runtime workload registration (node/workload-registry.ts) with the real pair service on loopback:
 * real PKI, SVIDs issued by the node intermediate, real pair-auth TLS, a real policy file, the real
 * interface lookup (the addon's if_nametoindex: `lo` exists, `latchgone0` does not), writing into the
 * in-memory datapath of the pair-service tests. node1 hosts WEB from its config; node2 starts with no
 * workloads and DB is registered at runtime. The test plays node1's mesh: `announce` is node2's
 * inventory update reaching node1.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import pino from 'pino'
import { daemonPkiFiles } from '../../certs/layout.js'
import { isLatchError } from '../../daemon/base/errors.js'
import { type Config, configSchema } from '../../daemon/config/schema.js'
import { systemInterfaces } from '../../daemon/engine/interfaces.js'
import { PairService } from '../../daemon/node/pair-service.js'
import type { PeerSnapshot } from '../../daemon/node/peer.js'
import { readRegistrations, writeRegistrations } from '../../daemon/node/registrations-file.js'
import { WorkloadRegistry } from '../../daemon/node/workload-registry.js'
import { API, DB, PairPki, TD, WEB } from '../pairauth/fixture.js'
import { MemoryDatapath } from './memory-datapath.js'

let pki: PairPki
let dir: string

test.before(async () => {
  pki = await PairPki.create()
  dir = await mkdtemp(join(tmpdir(), 'latch-registry-'))
})
test.after.always(async () => {
  await pki?.remove()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const silent = pino({ level: 'silent' })

function waitFor(what: string, f: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (f()) resolve()
      else if (Date.now() > until) reject(new Error(`timed out waiting for ${what}`))
      else setTimeout(tick, 20)
    }
    tick()
  })
}

function nodeConfig(
  name: 'node1' | 'node2',
  sub: string,
  extra: { policyFile?: string; port?: number; workloads?: unknown[]; max?: number } = {},
): Config {
  const n = pki.node(name)
  const wdir = join(dir, sub, name)
  return configSchema.parse({
    node: name,
    trustDomain: TD,
    pki: daemonPkiFiles(pki.dir, name),
    listen: { address: n.address },
    workloadCidrs: [n.cidr],
    wireguard: { address: `${n.address}/32`, privateKeyFile: join(wdir, 'wg.key') },
    peersFile: join(wdir, 'peers.yaml'),
    workloads: extra.workloads ?? [],
    ...(extra.policyFile && { policyFile: extra.policyFile }),
    pairAuth: { port: extra.port ?? 17460 },
    svidTtl: '1h',
    registrations: {
      file: join(wdir, 'workloads.json'),
      svidDir: join(wdir, 'workloads'),
      ...(extra.max && { max: extra.max }),
    },
  })
}

function snapshotOf(name: 'node1' | 'node2', workloads: Array<{ id: string; ips: string[] }>): PeerSnapshot {
  const n = pki.node(name)
  return {
    name,
    address: n.address,
    port: 7443,
    role: 'dialer',
    state: 'established',
    tunnel: 'up',
    rotations: 0,
    tunnelAddress: `${n.address}/32`,
    workloadCidrs: [n.cidr],
    workloads,
  } as PeerSnapshot
}

/** node1 (WEB from its config) and node2 (nothing configured, a registry), policy WEB ↔ DB. */
async function mesh(sub: string, port: number, o: { announce: boolean }) {
  await mkdir(join(dir, sub, 'node1'), { recursive: true })
  await mkdir(join(dir, sub, 'node2'), { recursive: true })
  const policyFile = join(dir, sub, 'policy.yaml')
  await writeFile(policyFile, `version: 1\ntrustDomain: ${TD}\nallow:\n  - from: ${WEB}\n    to: ${DB}\n`)
  const c1 = nodeConfig('node1', sub, {
    policyFile,
    port,
    workloads: [
      {
        id: WEB,
        ips: ['10.100.1.11'],
        certFile: join(dir, sub, 'node1', 'web.crt'),
        keyFile: join(dir, sub, 'node1', 'web.key'),
      },
    ],
  })
  const c2 = nodeConfig('node2', sub, { policyFile, port })
  const n1 = pki.node('node1')
  const n2 = pki.node('node2')
  const peerOf1 = snapshotOf('node2', []) // node1's view of node2: no workloads until announced
  const dp1 = new MemoryDatapath()
  const svc1 = new PairService({
    config: c1,
    logger: silent,
    rootPem: pki.rootPem,
    node: { certPem: n1.certPem, keyPem: n1.keyPem },
    peers: () => [peerOf1],
    datapath: dp1,
    bindToWireguard: false,
  })
  const registry = new WorkloadRegistry(c2, silent, systemInterfaces)
  await registry.load()
  const dp2 = new MemoryDatapath()
  const svc2 = new PairService({
    config: c2,
    logger: silent,
    rootPem: pki.rootPem,
    node: { certPem: n2.certPem, keyPem: n2.keyPem },
    peers: () => [snapshotOf('node1', [{ id: WEB, ips: ['10.100.1.11'] }])],
    datapath: dp2,
    local: () => registry.local(),
    registered: registry.svidWorkloads(),
    bindToWireguard: false,
  })
  await svc1.start()
  await svc2.start()
  const announced: number[] = []
  const announce = (workloads: Array<{ id: string; ips: string[] }>) => {
    peerOf1.workloads = workloads
    svc1.refresh()
  }
  registry.bind({
    pairs: svc2,
    announce: (w) => {
      announced.push(w.length)
      if (o.announce) announce(w)
    },
  })
  const stop = async () => {
    await svc1.stop()
    await svc2.stop()
  }
  return {
    c2,
    svc1,
    dp1,
    svc2,
    dp2,
    registry,
    announced,
    announce: () => announce(registry.inventory()),
    stop,
  }
}

test('add issues the SVID here (key 0600), returns once the allowed pair is authenticated on both nodes; remove revokes both directions and deletes the key', async (t) => {
  const m = await mesh('add-remove', 17461, { announce: true })
  t.teardown(m.stop)
  const w = await m.registry.add({
    cmd: 'workload_add',
    id: DB,
    ips: ['10.100.2.11'],
    interface: 'lo',
    waitMs: 5000,
  })
  t.true(w.ready)
  t.is(w.source, 'registered')
  t.deepEqual(w.pairs, { planned: 1, authenticated: 1, pending: [] })
  t.truthy(w.svid?.notAfter)
  t.is(w.ifindex, 1)
  await m.svc2.settled()
  t.true(m.dp2.has(DB, WEB) && m.dp2.has(WEB, DB), 'node2 wrote both directions before add returned')
  t.deepEqual(m.dp2.remote.get(WEB), ['10.100.1.11'])
  await waitFor('node1 entries', () => m.dp1.has(WEB, DB) && m.dp1.has(DB, WEB))
  t.deepEqual(m.dp1.remote.get(DB), ['10.100.2.11'], "node1's ipcache entry comes from DB's SVID")
  t.deepEqual(m.announced, [1], 'the inventory was announced once')

  const [keyFile] = m.registry.svidWorkloads().map((s) => s.keyFile)
  t.is((await stat(keyFile as string)).mode & 0o777, 0o600)
  t.is((await stat(m.c2.registrations.file)).mode & 0o777, 0o600)
  t.deepEqual(
    readRegistrations(m.c2.registrations.file).map((r) => [r.id, r.ips, r.interface]),
    [[DB, ['10.100.2.11'], 'lo']],
  )

  const again = await m.registry.add({ cmd: 'workload_add', id: DB, ips: ['10.100.2.11'], interface: 'lo' })
  t.is(again.registeredAt, w.registeredAt, 'registering the same workload again is a no-op')
  t.deepEqual(m.announced, [1])

  const r = await m.registry.remove({ cmd: 'workload_remove', id: DB })
  t.true(r.removed)
  t.is(m.dp2.auth.size, 0, "node2's entries are gone when remove returns")
  await waitFor('node1 entries revoked', () => m.dp1.auth.size === 0)
  await t.throwsAsync(stat(keyFile as string), { code: 'ENOENT' })
  t.deepEqual(readRegistrations(m.c2.registrations.file), [])
  t.deepEqual(await m.registry.remove({ cmd: 'workload_remove', id: DB }), { removed: false })
  t.deepEqual((await m.svc2.status()).identities, [], 'node2 presents no SVID for DB any more')
})

test("a pair answered before the peer's inventory lists the workload is written at once, and handed over when the inventory arrives", async (t) => {
  const m = await mesh('early', 17462, { announce: false })
  t.teardown(m.stop)
  const w = await m.registry.add({
    cmd: 'workload_add',
    id: DB,
    ips: ['10.100.2.11'],
    interface: 'lo',
    waitMs: 5000,
  })
  t.true(w.ready, 'node2 dialed node1 and node1 answered')
  await waitFor('node1 entries before the inventory', () => m.dp1.has(WEB, DB) && m.dp1.has(DB, WEB))
  t.deepEqual((await m.svc1.status()).pairs, [], 'node1 has not planned the pair')
  m.announce()
  const st = await m.svc1.status()
  t.is(st.pairs.length, 1)
  t.is(st.pairs[0]?.state, 'authenticated', 'the early answer became the planned pair, no new handshake')
  t.true(m.dp1.has(WEB, DB) && m.dp1.has(DB, WEB))
})

test('registrations survive a restart: the next registry re-adopts them and drops the one whose interface vanished, with its key', async (t) => {
  const sub = 'restart'
  await mkdir(join(dir, sub, 'node2'), { recursive: true })
  const c = nodeConfig('node2', sub)
  const first = new WorkloadRegistry(c, silent, systemInterfaces)
  await first.load()
  first.bind({})
  await first.add({
    cmd: 'workload_add',
    id: DB,
    ips: ['10.100.2.11'],
    interface: 'lo',
    owner: 'cni:abc:eth0',
  })
  // a second registration on an interface that is not there (as if deleted while latchd was down)
  const stored = readRegistrations(c.registrations.file)
  writeRegistrations(c.registrations.file, [
    ...stored,
    {
      id: API,
      ips: ['10.100.2.12'],
      interface: 'latchgone0',
      ifindex: 4242,
      registeredAt: new Date().toISOString(),
    },
  ])
  const second = new WorkloadRegistry(c, silent, systemInterfaces)
  const dropped = await second.load()
  second.bind({})
  t.deepEqual(
    dropped.map((r) => r.id),
    [API],
  )
  t.deepEqual(
    second.list().map((w) => [w.id, w.ips, w.interface, w.owner, w.source]),
    [[DB, ['10.100.2.11'], 'lo', 'cni:abc:eth0', 'registered']],
  )
  t.deepEqual(
    readRegistrations(c.registrations.file).map((r) => r.id),
    [DB],
    'the file no longer holds the dropped one',
  )
  t.deepEqual(
    await second.remove({ cmd: 'workload_remove', owner: 'cni:abc:eth0' }).then((r) => r.removed),
    true,
  )
})

test('a damaged registrations file is an error, never silently emptied; a missing one is no registrations', async (t) => {
  const file = join(dir, 'damaged.json')
  t.deepEqual(readRegistrations(file), [])
  await writeFile(file, '{"version":1,"workloads":[{"id":')
  const e = t.throws(() => readRegistrations(file))
  t.true(isLatchError(e, 'LATCH_ERR_WORKLOAD_STATE_FILE'))
  t.is(await readFile(file, 'utf8'), '{"version":1,"workloads":[{"id":', 'the file is left as it was')
})

const BAD: Array<[string, Record<string, unknown>, string]> = [
  ['an ID that is not a SPIFFE ID', { id: 'web', ips: ['10.100.2.20'], interface: 'lo' }, 'BAD_REQUEST'],
  [
    'an ID of another trust domain',
    { id: 'spiffe://other.org/ns/a/sa/b', ips: ['10.100.2.20'], interface: 'lo' },
    'BAD_REQUEST',
  ],
  [
    "an IP outside the node's workload CIDRs",
    { id: API, ips: ['10.100.1.20'], interface: 'lo' },
    'BAD_REQUEST',
  ],
  ['an IP that is not an IP', { id: API, ips: ['10.100.2.x'], interface: 'lo' }, 'BAD_REQUEST'],
  ['an IP another workload has', { id: API, ips: ['10.100.2.11'], interface: 'lo' }, 'BAD_REQUEST'],
  ['no interface and no netns', { id: API, ips: ['10.100.2.20'] }, 'BAD_REQUEST'],
  [
    'an interface that does not exist',
    { id: API, ips: ['10.100.2.20'], interface: 'latchgone0' },
    'BAD_REQUEST',
  ],
  ['an interface another workload has', { id: API, ips: ['10.100.2.20'], interface: 'lo' }, 'BAD_REQUEST'],
  [
    '--netns without --netns-interface',
    { id: API, ips: ['10.100.2.20'], netns: '/proc/1/ns/net' },
    'BAD_REQUEST',
  ],
  ['a workload of latchd.yaml', { id: WEB, ips: ['10.100.2.30'], interface: 'lo' }, 'STATIC'],
  ['the same ID with other IPs', { id: DB, ips: ['10.100.2.21'], interface: 'lo' }, 'EXISTS'],
]

for (const [what, req, code] of BAD) {
  test(`a request with ${what} is refused (LATCH_ERR_WORKLOAD_${code}) and changes nothing`, async (t) => {
    const sub = `bad-${BAD.findIndex((b) => b[0] === what)}`
    await mkdir(join(dir, sub, 'node2'), { recursive: true })
    const c = nodeConfig('node2', sub, {
      workloads: [{ id: WEB, ips: ['10.100.2.10'] }],
    })
    const reg = new WorkloadRegistry(c, silent, systemInterfaces)
    await reg.load()
    reg.bind({})
    await reg.add({ cmd: 'workload_add', id: DB, ips: ['10.100.2.11'], interface: 'lo' })
    const before = await readFile(c.registrations.file, 'utf8')
    const e = await t.throwsAsync(reg.add({ cmd: 'workload_add', ...req } as never))
    t.true(isLatchError(e, `LATCH_ERR_WORKLOAD_${code}` as never), `${e?.message}`)
    t.is(await readFile(c.registrations.file, 'utf8'), before)
    t.deepEqual(
      reg.list().map((w) => w.id),
      [WEB, DB],
    )
  })
}

test('a registration beyond registrations.max is refused with LATCH_ERR_WORKLOAD_LIMIT', async (t) => {
  const sub = 'limit'
  await mkdir(join(dir, sub, 'node2'), { recursive: true })
  const c = nodeConfig('node2', sub, { workloads: [{ id: WEB, ips: ['10.100.2.10'] }], max: 1 })
  const reg = new WorkloadRegistry(c, silent, systemInterfaces)
  await reg.load()
  reg.bind({})
  const e = await t.throwsAsync(
    reg.add({ cmd: 'workload_add', id: DB, ips: ['10.100.2.11'], interface: 'lo' }),
  )
  t.true(isLatchError(e, 'LATCH_ERR_WORKLOAD_LIMIT'))
  t.deepEqual(readRegistrations(c.registrations.file), [])
})

/**
 * EtcdDiscovery against a real etcd (Debian's etcd-server) on 127.0.0.1 with TLS client certificates:
 * registration, the watch, grace on departure, fail static through an outage, resync after compaction,
 * a forged value refused, our own record written back when someone overwrites it.
 */
import test from 'ava'
import pino from 'pino'
import type { LatchError } from '../../daemon/base/errors.js'
import { EtcdDiscovery } from '../../daemon/discovery/etcd.js'
import type { NodeRecord } from '../../daemon/discovery/etcd-record.js'
import type { PeerEntry } from '../../daemon/discovery/peers-file.js'
import { freePort, LocalEtcd } from './helpers/local-etcd.js'

const PREFIX = '/latch/test/nodes/'
const fp = (c: string) => `sha256:${c.repeat(64)}`

function record(name: string, i: number): NodeRecord {
  return { name, address: `10.99.0.${10 + i}`, port: 7443, fingerprint: fp(String(i % 10)) }
}

interface Node {
  d: EtcdDiscovery
  lists: Array<readonly PeerEntry[]>
  errors: LatchError[]
  logs: string[]
}

function node(etcd: LocalEtcd, name: string, i: number, graceMs = 1500): Node {
  const lists: Array<readonly PeerEntry[]> = []
  const errors: LatchError[] = []
  const logs: string[] = []
  const d = new EtcdDiscovery({
    etcd: { endpoints: [etcd.endpoint], ...etcd.tls(name), prefix: PREFIX, leaseTtl: 2000 },
    self: record(name, i),
    gracePeriodMs: graceMs,
    logger: pino({ level: 'debug' }, { write: (s: string) => logs.push(s) }),
    onChange: (p) => lists.push(p),
    onError: (e) => errors.push(e),
  })
  return { d, lists, errors, logs }
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const names = (d: EtcdDiscovery) => d.peers.map((p) => p.name)

test.serial(
  'nodes find each other, a departed node stays for the grace period, fail static through an outage, resync after compaction',
  async (t) => {
    const etcd = await LocalEtcd.create(['node-a', 'node-b', 'node-c'])
    t.teardown(() => etcd.destroy())
    await etcd.start()
    const a = node(etcd, 'node-a', 1, 8000)
    const b = node(etcd, 'node-b', 2)
    t.teardown(() => a.d.stop())
    t.teardown(() => b.d.stop())

    t.deepEqual(await a.d.start(), [])
    await b.d.start()
    await until('a sees b', () => names(a.d).includes('node-b'))
    await until('b sees a', () => names(b.d).includes('node-a'))
    t.deepEqual(a.d.peers[0], { name: 'node-b', address: '10.99.0.12', port: 7443, fingerprint: fp('2') })
    const sa = a.d.status()
    t.true(sa.backend === 'etcd' && sa.connected && sa.registered && sa.records === 1)

    // b stops without revoking: its lease runs out (2 s), then a keeps it for the grace period (8 s)
    await b.d.stop()
    const stoppedAt = Date.now()
    await until('b departing', () => {
      const s = a.d.status()
      return s.backend === 'etcd' && s.departing.length === 1
    })
    t.true(names(a.d).includes('node-b'), 'a departing node is still a peer')
    await until('b gone', () => !names(a.d).includes('node-b'), 20_000)
    t.true(Date.now() - stoppedAt >= 8000, `removed ${Date.now() - stoppedAt} ms after the stop`)

    // outage: etcd dies; a keeps its view; meanwhile (etcd on another port) c registers and a key is compacted away
    const admin0 = await etcd.admin()
    await admin0.put(`${PREFIX}node-x`).value(JSON.stringify({ v: 1, ...record('node-x', 4) }))
    admin0.close()
    await until('a sees x', () => names(a.d).includes('node-x'))
    const resyncsBefore = (a.d.status() as { resyncs: number }).resyncs
    await etcd.kill()
    await new Promise((r) => setTimeout(r, 1000))
    t.deepEqual(names(a.d), ['node-x'], 'etcd unreachable: nothing changes')
    t.false((a.d.status() as { connected: boolean }).connected)

    const port = etcd.member.clientPort
    await etcd.start(await freePort())
    const admin = await etcd.admin()
    // many writes, then compaction past a's revision: its watch cannot resume and must list again
    for (let i = 0; i < 20; i++) await admin.put(`/latch/test/other/${i}`).value('x')
    await admin.delete().key(`${PREFIX}node-x`)
    await admin.put(`${PREFIX}node-c`).value(JSON.stringify({ v: 1, ...record('node-c', 3) }))
    const rev = (await admin.get(`${PREFIX}node-c`).exec()).header.revision
    await admin.kv.compact({ revision: rev, physical: true })
    admin.close()
    await etcd.kill()
    await etcd.start(port)

    await until('a resynced and sees c', () => names(a.d).includes('node-c'), 20_000).catch((err) => {
      t.log(a.logs.slice(-15).join(''))
      throw err
    })
    const s = a.d.status()
    t.true(s.backend === 'etcd' && s.resyncs > resyncsBefore, 'a full listing after the compaction')
    t.true(names(a.d).includes('node-x'), 'x vanished during the outage: departing, not dropped at once')
    await until('x gone after grace', () => !names(a.d).includes('node-x'))
    await until('a registered again', () => (a.d.status() as { registered: boolean }).registered, 15_000)
  },
)

test.serial(
  'a value that is not a registration is refused and shown; the record it replaces stays',
  async (t) => {
    const etcd = await LocalEtcd.create(['node-a'])
    t.teardown(() => etcd.destroy())
    await etcd.start()
    const a = node(etcd, 'node-a', 1)
    t.teardown(() => a.d.stop())
    await a.d.start()
    const admin = await etcd.admin()
    t.teardown(() => admin.close())
    await admin.put(`${PREFIX}node-b`).value(JSON.stringify({ v: 1, ...record('node-b', 2) }))
    await until('a sees b', () => names(a.d).includes('node-b'))
    await admin.put(`${PREFIX}node-b`).value('{"v":1,"name":"node-b"}')
    await admin.put(`${PREFIX}node-z`).value(JSON.stringify({ v: 1, ...record('node-q', 5) }))
    await until('two rejections', () => a.errors.length >= 2)
    t.true(a.errors.every((e) => e.code === 'LATCH_ERR_DISCOVERY_RECORD_INVALID'))
    const s = a.d.status()
    t.true(s.backend === 'etcd')
    if (s.backend !== 'etcd') return
    t.deepEqual(s.rejected.map((r) => r.key).sort(), [`${PREFIX}node-b`, `${PREFIX}node-z`])
    t.regex(
      s.rejected.find((r) => r.key.endsWith('node-z'))?.problem ?? '',
      /key names node "node-z".*"node-q"/,
    )
    t.deepEqual(names(a.d), ['node-b'], 'the valid record of node-b stays')
  },
)

test.serial(
  'a node started during a long outage registers when etcd returns, and the node that was up sees it',
  async (t) => {
    const etcd = await LocalEtcd.create(['node-a', 'node-b'])
    t.teardown(() => etcd.destroy())
    await etcd.start()
    const a = node(etcd, 'node-a', 1, 60_000)
    t.teardown(() => a.d.stop())
    await a.d.start()
    await etcd.kill()
    const b = node(etcd, 'node-b', 2)
    t.teardown(() => b.d.stop())
    t.deepEqual(await b.d.start(), [], 'etcd down: b starts with no peers')
    // long enough for gRPC's default reconnect backoff (1 s × 1.6ⁿ, up to 120 s) to pass 10 s
    await new Promise((r) => setTimeout(r, 25_000))
    await etcd.start()
    const both = () =>
      [a, b].every((n) => {
        const s = n.d.status()
        return s.backend === 'etcd' && s.connected && s.registered
      })
    await until('a and b connected and registered', both, 20_000).catch((err) => {
      t.log(a.logs.slice(-8).join(''), b.logs.slice(-8).join(''))
      throw err
    })
    await until('a sees b', () => names(a.d).includes('node-b'))
    await until('b sees a', () => names(b.d).includes('node-a'))
    t.pass()
  },
)

test.serial('our own record overwritten by another writer is written back', async (t) => {
  const etcd = await LocalEtcd.create(['node-a'])
  t.teardown(() => etcd.destroy())
  await etcd.start()
  const a = node(etcd, 'node-a', 1)
  t.teardown(() => a.d.stop())
  await a.d.start()
  const admin = await etcd.admin()
  t.teardown(() => admin.close())
  const key = `${PREFIX}node-a`
  await until('own key', () => (a.d.status() as { registered: boolean }).registered)
  const forged = JSON.stringify({ v: 1, ...record('node-a', 1), fingerprint: fp('f') })
  await admin.put(key).value(forged)
  let value: string | null = forged
  for (let i = 0; i < 100 && value === forged; i++) {
    await new Promise((r) => setTimeout(r, 50))
    value = await admin.get(key).string()
  }
  t.is(value, JSON.stringify({ v: 1, ...record('node-a', 1) }))
  t.true(a.logs.some((l) => l.includes('etcd_registration_overwritten')))
})

test.serial('unreadable TLS files are a start-up error naming the key', async (t) => {
  const etcd = await LocalEtcd.create(['node-a'])
  t.teardown(() => etcd.destroy())
  const d = new EtcdDiscovery({
    etcd: {
      endpoints: [etcd.endpoint],
      ...etcd.tls('node-a'),
      certFile: '/nonexistent.crt',
      prefix: PREFIX,
      leaseTtl: 2000,
    },
    self: record('node-a', 1),
    gracePeriodMs: 1000,
    logger: pino({ level: 'silent' }),
    onChange: () => undefined,
    onError: () => undefined,
  })
  const err = await t.throwsAsync(d.start())
  t.is((err as LatchError).code, 'LATCH_ERR_DISCOVERY_ETCD_TLS')
  t.regex(err!.message, /etcd\.certFile \/nonexistent\.crt/)
})

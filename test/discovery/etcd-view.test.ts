import test from 'ava'
import { encodeRecord, type NodeRecord, parseRecord } from '../../daemon/discovery/etcd-record.js'
import { EtcdView } from '../../daemon/discovery/etcd-view.js'

const P = '/latch/nodes/'
const fp = (c: string) => `sha256:${c.repeat(64)}`
const rec = (name: string, ip = '10.99.0.12', f = fp('a')): NodeRecord => ({
  name,
  address: ip,
  port: 7443,
  fingerprint: f,
})
const kv = (r: NodeRecord) => ({ key: `${P}${r.name}`, value: encodeRecord(r) })
const view = () => new EtcdView({ prefix: P, self: 'node1', gracePeriodMs: 1000 })
const names = (v: EtcdView) => v.peers().map((p) => p.name)

test('a registration round-trips and becomes a peer entry with its fingerprint', (t) => {
  const v = view()
  const { key, value } = kv(rec('node2'))
  t.is(v.put(key, value, 0), undefined)
  t.deepEqual(v.peers(), [{ name: 'node2', address: '10.99.0.12', port: 7443, fingerprint: fp('a') }])
  t.true(Object.isFrozen(v.peers()))
})

test("this node's own key is not a peer", (t) => {
  const v = view()
  const { key, value } = kv(rec('node1'))
  v.put(key, value, 0)
  t.deepEqual(v.peers(), [])
})

const bad: Array<[string, string, string, RegExp]> = [
  ['not JSON', `${P}node2`, '{', /not JSON/],
  ['a key naming another node', `${P}node2`, encodeRecord(rec('node3')), /key names node "node2".*"node3"/],
  [
    'a bad fingerprint',
    `${P}node2`,
    encodeRecord({ ...rec('node2'), fingerprint: 'md5:00' }),
    /fingerprint: expected sha256/,
  ],
  ['a bad address', `${P}node2`, encodeRecord({ ...rec('node2'), address: '10.99.0' }), /address/],
  [
    'an unknown key',
    `${P}node2`,
    JSON.stringify({ ...JSON.parse(encodeRecord(rec('node2'))), extra: 1 }),
    /extra: unknown key/,
  ],
  ['another version', `${P}node2`, JSON.stringify({ ...JSON.parse(encodeRecord(rec('node2'))), v: 2 }), /v:/],
]
for (const [what, key, value, problem] of bad) {
  test(`a registration with ${what} is refused, saying why`, (t) => {
    const r = parseRecord(P, key, value)
    t.false(r.ok)
    if (!r.ok) t.regex(r.problem, problem)
  })
}

test('an invalid value is shown as rejected and the valid record it replaces stays', (t) => {
  const v = view()
  const good = kv(rec('node2'))
  v.put(good.key, good.value, 0)
  const r = v.put(good.key, '{"v":1}', 5)
  t.is(r?.key, good.key)
  t.deepEqual(names(v), ['node2'])
  t.is(v.rejected().length, 1)
  v.put(good.key, good.value, 6)
  t.is(v.rejected().length, 0, 'a valid value clears the rejection')
})

test('a deleted registration stays a peer for the grace period, then leaves', (t) => {
  const v = view()
  const { key, value } = kv(rec('node2'))
  v.put(key, value, 0)
  v.delete(key, 100)
  t.deepEqual(names(v), ['node2'])
  t.deepEqual(v.departing(), [{ name: 'node2', until: 1100 }])
  t.is(v.nextExpiry(), 1100)
  t.deepEqual(v.expire(1099), [])
  t.deepEqual(v.expire(1100), ['node2'])
  t.deepEqual(names(v), [])
  t.is(v.nextExpiry(), undefined)
})

test('registering again within the grace period brings the node straight back', (t) => {
  const v = view()
  const { key, value } = kv(rec('node2'))
  v.put(key, value, 0)
  v.delete(key, 100)
  v.put(key, encodeRecord(rec('node2', '10.99.0.22')), 500)
  t.deepEqual(v.departing(), [])
  t.deepEqual(v.expire(5000), [])
  t.is(v.peers()[0]?.address, '10.99.0.22')
})

test('a full listing deletes what it lacks (with grace) and puts what it has', (t) => {
  const v = view()
  for (const n of ['node2', 'node3']) v.put(kv(rec(n)).key, kv(rec(n)).value, 0)
  v.put(`${P}junk`, 'x', 0)
  const rejected = v.resync([kv(rec('node3')), kv(rec('node4'))], 10)
  t.deepEqual(rejected, [])
  t.deepEqual(names(v), ['node2', 'node3', 'node4'])
  t.deepEqual(v.departing(), [{ name: 'node2', until: 1010 }])
  t.deepEqual(v.rejected(), [], 'a rejected key the listing no longer holds is forgotten')
  v.expire(1010)
  t.deepEqual(names(v), ['node3', 'node4'])
})

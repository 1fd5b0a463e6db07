/**
 * The typed map views against real pinned maps: what is written reads back, batch writes land in
 * one call, lookups are longest-prefix, expiries convert through the boot clock, and bad entries are
 * refused with a LatchError before anything reaches the kernel.
 */
import test from 'ava'
import type { Datapath } from '../../daemon/datapath/index.js'
import { destroyTestDatapath, loadTestDatapath } from '../bpf/fixture.js'

const TAG = 'maps'
let dp: Datapath

test.before(() => {
  dp = loadTestDatapath(TAG)
})
test.after.always(() => destroyTestDatapath(dp, TAG))

const code = (err: unknown) => (err as { code?: string }).code

test.serial('ipcache entries written in one batch list back with their prefixes', (t) => {
  const n = dp.ipcache.upsert([
    { prefix: '10.100.2.0/24', identity: 7, scope: 'remote', ifindex: 42 },
    { prefix: '10.100.1.11', identity: 1, scope: 'local', ifindex: 5 },
    { prefix: 'fd00:100:2::/64', identity: 7, scope: 'remote', ifindex: 42 },
  ])
  t.is(n, 3)
  const byPrefix = Object.fromEntries(dp.ipcache.list().map((e) => [e.prefix, e]))
  t.deepEqual(byPrefix['10.100.2.0/24'], {
    prefix: '10.100.2.0/24',
    identity: 7,
    scope: 'remote',
    ifindex: 42,
  })
  t.deepEqual(byPrefix['10.100.1.11/32'], {
    prefix: '10.100.1.11/32',
    identity: 1,
    scope: 'local',
    ifindex: 5,
  })
  t.is(byPrefix['fd00:100:2::/64']?.identity, 7)
})

test.serial('an ipcache lookup finds the longest matching prefix', (t) => {
  dp.ipcache.upsert([{ prefix: '10.100.2.128/25', identity: 8, scope: 'remote', ifindex: 42 }])
  t.is(dp.ipcache.lookup('10.100.2.200')?.identity, 8)
  t.is(dp.ipcache.lookup('10.100.2.5')?.identity, 7)
  t.is(dp.ipcache.lookup('10.100.9.9'), null)
})

test.serial('deleting ipcache prefixes counts only those that existed', (t) => {
  t.is(dp.ipcache.delete(['10.100.2.128/25', '10.100.77.0/24']), 1)
  t.is(dp.ipcache.lookup('10.100.2.200')?.identity, 7)
})

test.serial('an upsert replaces the identity of an existing prefix', (t) => {
  dp.ipcache.upsertOne({ prefix: '10.100.1.11', identity: 9, scope: 'local', ifindex: 5 })
  t.is(dp.ipcache.lookup('10.100.1.11')?.identity, 9)
})

const badIpcache: [string, () => unknown, string][] = [
  [
    'identity 0',
    () => dp.ipcache.upsert([{ prefix: '10.0.0.0/8', identity: 0, scope: 'local', ifindex: 1 }]),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  ],
  [
    'a remote entry without the tunnel ifindex',
    () => dp.ipcache.upsert([{ prefix: '10.0.0.0/8', identity: 3, scope: 'remote', ifindex: 0 }]),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  ],
  [
    'a CIDR with host bits',
    () => dp.ipcache.upsert([{ prefix: '10.0.0.1/8', identity: 3, scope: 'local', ifindex: 1 }]),
    'LATCH_ERR_NET_BAD_CIDR',
  ],
  [
    'an unknown scope',
    () => dp.ipcache.upsert([{ prefix: '10.0.0.0/8', identity: 3, scope: 'x' as 'local', ifindex: 1 }]),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  ],
]
for (const [what, fn, expected] of badIpcache) {
  test.serial(`an ipcache batch with ${what} is refused whole with ${expected}`, (t) => {
    const before = dp.ipcache.list().length
    t.is(code(t.throws(fn)), expected)
    t.is(dp.ipcache.list().length, before, 'nothing was written')
  })
}

test.serial('an endpoint reads back with its addresses', (t) => {
  dp.endpoints.set({ ifindex: 12, identity: 4, addrs: ['10.100.1.12', 'fd00:100:1::12'] })
  t.deepEqual(dp.endpoints.get(12), { ifindex: 12, identity: 4, addrs: ['10.100.1.12', 'fd00:100:1::12'] })
  t.deepEqual(
    dp.endpoints.list().map((e) => e.ifindex),
    [12],
  )
  t.true(dp.endpoints.delete(12))
  t.false(dp.endpoints.delete(12))
  t.is(dp.endpoints.get(12), null)
})

test.serial(
  'endpoints written in one batch read back, and a batch delete counts only those that existed',
  (t) => {
    t.is(
      dp.endpoints.setMany([
        { ifindex: 21, identity: 5, addrs: ['10.100.1.21'] },
        { ifindex: 22, identity: 6, addrs: ['10.100.1.22', 'fd00:100:1::22'] },
      ]),
      2,
    )
    t.deepEqual(dp.endpoints.list(), [
      { ifindex: 21, identity: 5, addrs: ['10.100.1.21'] },
      { ifindex: 22, identity: 6, addrs: ['10.100.1.22', 'fd00:100:1::22'] },
    ])
    t.is(dp.endpoints.deleteMany([21, 22, 23]), 2)
    t.deepEqual(dp.endpoints.list(), [])
  },
)

test.serial('an endpoint with no or too many addresses is refused', (t) => {
  t.is(
    code(t.throws(() => dp.endpoints.set({ ifindex: 3, identity: 1, addrs: [] }))),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  )
  const nine = Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`)
  t.is(
    code(t.throws(() => dp.endpoints.set({ ifindex: 3, identity: 1, addrs: nine }))),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  )
  t.is(dp.endpoints.get(3), null)
})

test.serial('auth entries keep their expiry to the millisecond and report expired ones', (t) => {
  const future = new Date(Date.now() + 60_000)
  const past = new Date(Date.now() - 60_000)
  t.is(
    dp.auth.set([
      { srcId: 1, dstId: 2, expiresAt: future },
      { srcId: 2, dstId: 1, expiresAt: past },
    ]),
    2,
  )
  const list = dp.auth.list()
  t.deepEqual(
    list.map((e) => [e.srcId, e.dstId, e.expired]),
    [
      [1, 2, false],
      [2, 1, true],
    ],
  )
  t.true(Math.abs(list[0]!.expiresAt.getTime() - future.getTime()) <= 2)
  t.is(dp.auth.collectExpired(), 1)
  t.deepEqual(
    dp.auth.list().map((e) => [e.srcId, e.dstId]),
    [[1, 2]],
  )
  t.is(dp.auth.delete([{ srcId: 1, dstId: 2 }]), 1)
  t.deepEqual(dp.auth.list(), [])
})

test.serial('an auth entry with an invalid date or identity is refused', (t) => {
  t.is(
    code(t.throws(() => dp.auth.set([{ srcId: 1, dstId: 2, expiresAt: new Date('nope') }]))),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  )
  t.is(
    code(t.throws(() => dp.auth.set([{ srcId: -1, dstId: 2, expiresAt: new Date() }]))),
    'LATCH_ERR_BPF_BAD_ARGUMENT',
  )
})

test.serial('stats list every reason, starting at zero', (t) => {
  const stats = dp.stats.read()
  t.true('allowed' in stats && 'drop_no_auth' in stats && 'event_lost' in stats)
  t.false('max' in stats)
  for (const c of Object.values(stats)) t.is(c.packets, 0n)
})

test.serial('the event interval setting reads back', (t) => {
  dp.config.set({ eventIntervalNs: 250_000_000n })
  t.is(dp.config.get().eventIntervalNs, 250_000_000n)
})

test.serial('setting one datapath field keeps the others (conntrack timeouts included)', (t) => {
  dp.config.set({ ctUdpNs: 5_000_000_000n })
  dp.config.set({ eventIntervalNs: 1n })
  const c = dp.config.get()
  t.is(c.ctUdpNs, 5_000_000_000n)
  t.is(c.eventIntervalNs, 1n)
  t.is(code(t.throws(() => dp.config.set({ ctTcpSynNs: -1n }))), 'LATCH_ERR_BPF_BAD_ARGUMENT')
})

test.serial('policy entries written in one batch list back, any and port ranges', (t) => {
  const n = dp.policy.set([
    { srcId: 1, dstId: 2, any: false, ranges: [{ proto: 6, low: 5432, high: 5432 }] },
    { srcId: 3, dstId: 2, any: true, ranges: [] },
    {
      srcId: 0x7fffff01,
      dstId: 2,
      any: false,
      ranges: [
        { proto: 6, low: 8000, high: 8080 },
        { proto: 1, low: 0, high: 65535 },
      ],
    },
  ])
  t.is(n, 3)
  t.deepEqual(dp.policy.list(), [
    { srcId: 1, dstId: 2, any: false, ranges: [{ proto: 6, low: 5432, high: 5432 }] },
    { srcId: 3, dstId: 2, any: true, ranges: [] },
    {
      srcId: 0x7fffff01,
      dstId: 2,
      any: false,
      ranges: [
        { proto: 6, low: 8000, high: 8080 },
        { proto: 1, low: 0, high: 65535 },
      ],
    },
  ])
  t.is(
    dp.policy.delete([
      { srcId: 1, dstId: 2 },
      { srcId: 9, dstId: 9 },
    ]),
    1,
  )
  t.is(dp.policy.list().length, 2)
})

const badPolicy: [string, () => unknown][] = [
  ['no ranges and not any', () => dp.policy.set([{ srcId: 1, dstId: 2, any: false, ranges: [] }])],
  [
    'any with ranges',
    () => dp.policy.set([{ srcId: 1, dstId: 2, any: true, ranges: [{ proto: 6, low: 1, high: 2 }] }]),
  ],
  [
    'a range that ends before it starts',
    () => dp.policy.set([{ srcId: 1, dstId: 2, any: false, ranges: [{ proto: 6, low: 9, high: 2 }] }]),
  ],
  [
    'more ranges than the map holds',
    () =>
      dp.policy.set([
        {
          srcId: 1,
          dstId: 2,
          any: false,
          ranges: Array.from({ length: 17 }, (_, i) => ({ proto: 6, low: i + 1, high: i + 1 })),
        },
      ]),
  ],
  ['identity 0', () => dp.policy.set([{ srcId: 0, dstId: 2, any: true, ranges: [] }])],
]
for (const [what, fn] of badPolicy) {
  test.serial(`a policy batch with ${what} is refused whole`, (t) => {
    const before = dp.policy.list().length
    t.is(code(t.throws(fn)), 'LATCH_ERR_BPF_BAD_ARGUMENT')
    t.is(dp.policy.list().length, before, 'nothing was written')
  })
}

test.serial('the conntrack table starts empty and flushes', (t) => {
  t.deepEqual(dp.ct.list(), [])
  t.is(dp.ct.flush(), 0)
})

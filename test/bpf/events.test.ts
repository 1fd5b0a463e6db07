/**
 * Ring-buffer events reach JavaScript: a packet dropped for lack of an auth entry produces an
 * auth-required event delivered by the addon's uv_poll watcher (no polling from the test), and the
 * per-pair rate limit folds repeats into one event plus a suppressed count. Policy entries let the
 * remote identities open flows to identity 1, so the auth stage is the one that drops.
 */
import test from 'ava'
import type { Datapath, DatapathEvent, EventSubscription } from '../../daemon/datapath/index.js'
import { frame } from '../../daemon/datapath/packet.js'
import { destroyTestDatapath, loadTestDatapath, moved, packetCounts } from './fixture.js'

const LO = 1
const WG = 1000
const TAG = 'events'
let dp: Datapath
let sub: EventSubscription | undefined
const received: DatapathEvent[] = []
let wake: (() => void) | undefined

test.before(() => {
  dp = loadTestDatapath(TAG)
  dp.endpoints.set({ ifindex: LO, identity: 1, addrs: ['10.100.1.11'] })
  dp.ipcache.upsert([
    { prefix: '10.100.1.11/32', identity: 1, scope: 'local', ifindex: LO },
    { prefix: '10.100.2.0/24', identity: 2, scope: 'remote', ifindex: WG },
    { prefix: '10.100.3.0/24', identity: 3, scope: 'remote', ifindex: WG },
    { prefix: '10.100.4.0/24', identity: 4, scope: 'remote', ifindex: WG },
  ])
  dp.policy.set([2, 3, 4].map((srcId) => ({ srcId, dstId: 1, any: true, ranges: [] })))
  sub = dp.subscribe((events) => {
    received.push(...events)
    wake?.()
  })
})

test.after.always(() => {
  sub?.close()
  destroyTestDatapath(dp, TAG)
})

/** Resolves once `n` events arrived through the event loop (or rejects after 2 s). */
function eventsArrive(n: number): Promise<DatapathEvent[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${n} events arrived`)), 2000)
    const check = () => {
      if (received.length >= n) {
        clearTimeout(timer)
        wake = undefined
        resolve(received.splice(0, received.length))
      }
    }
    wake = check
    check()
  })
}

test.serial('a packet dropped for lack of an auth entry raises an auth-required event in JS', async (t) => {
  const before = Date.now()
  const r = dp.testRun('to_workload', {
    data: frame({ src: '10.100.2.11', dst: '10.100.1.11', l4: { proto: 'tcp', sport: 40000, dport: 5432 } }),
    ifindex: LO,
    ingressIfindex: WG,
  })
  t.is(r.retval, 2)
  const [e] = await eventsArrive(1)
  t.like(e, {
    type: 'auth_required',
    reason: 'drop_no_auth',
    srcId: 2,
    dstId: 1,
    src: '10.100.2.11',
    dst: '10.100.1.11',
    family: 4,
    proto: 'tcp',
    sport: 40000,
    dport: 5432,
    direction: 'to_workload',
    ifindex: LO,
    ingressIfindex: WG,
    suppressed: 0,
  })
  t.true(Math.abs(e!.at.getTime() - before) < 5000, `event time ${e!.at.toISOString()} is near now`)
})

test.serial('a spoofed packet raises a drop event naming the reason', async (t) => {
  dp.testRun('from_workload', {
    data: frame({ src: '10.100.1.99', dst: '10.100.2.11', l4: { proto: 'udp', sport: 1, dport: 2 } }),
    ifindex: LO,
  })
  const [e] = await eventsArrive(1)
  t.like(e, {
    type: 'drop',
    reason: 'drop_spoofed',
    srcId: 1,
    src: '10.100.1.99',
    direction: 'from_workload',
  })
})

test.serial('repeated drops of one pair within the interval give one event and count the rest', async (t) => {
  dp.config.set({ eventIntervalNs: 10_000_000_000n })
  try {
    const data = frame({ src: '10.100.3.5', dst: '10.100.1.11', l4: { proto: 'icmp', type: 8, code: 0 } })
    const before = Object.fromEntries(Object.entries(dp.stats.read()).map(([k, c]) => [k, Number(c.packets)]))
    for (let i = 0; i < 5; i++) dp.testRun('to_workload', { data, ifindex: LO, ingressIfindex: WG })
    const events = await eventsArrive(1)
    await new Promise((r) => setTimeout(r, 50))
    t.is(events.length + received.length, 1)
    t.like(events[0], { srcId: 3, dstId: 1, proto: 'icmp', sport: 8 << 8 })
    t.deepEqual(moved(before, packetCounts(dp)), { drop_no_auth: 5, event_suppressed: 4 })
  } finally {
    dp.config.set({ eventIntervalNs: 0n })
  }
})

test.serial('the first event after the interval reports how many were suppressed', async (t) => {
  dp.config.set({ eventIntervalNs: 200_000_000n })
  try {
    const data = frame({ src: '10.100.4.6', dst: '10.100.1.11', l4: { proto: 'udp', sport: 7, dport: 8 } })
    for (let i = 0; i < 4; i++) dp.testRun('to_workload', { data, ifindex: LO, ingressIfindex: WG })
    const first = await eventsArrive(1)
    t.like(first[0], { src: '10.100.4.6', suppressed: 0 })
    await new Promise((r) => setTimeout(r, 250))
    dp.testRun('to_workload', { data, ifindex: LO, ingressIfindex: WG })
    const second = await eventsArrive(1)
    t.like(second[0], { src: '10.100.4.6', suppressed: 3 })
  } finally {
    dp.config.set({ eventIntervalNs: 0n })
  }
})

test.serial(
  'a forwarded packet from a source without identity raises an auth-required event naming its address',
  async (t) => {
    // a remote workload whose pair is not authenticated yet has no ipcache entry: the kernel drops its
    // packet (no pass before auth) and asks user space to resolve and authenticate it
    dp.config.set({ eventIntervalNs: 10_000_000_000n })
    try {
      const before = packetCounts(dp)
      for (const src of ['10.100.9.7', '10.100.9.7', '10.100.9.8']) {
        const r = dp.testRun('to_workload', {
          data: frame({ src, dst: '10.100.1.11', l4: { proto: 'tcp', sport: 41000, dport: 5432 } }),
          ifindex: LO,
          ingressIfindex: WG,
        })
        t.is(r.retval, 2)
      }
      const events = await eventsArrive(2)
      t.deepEqual(moved(before, packetCounts(dp)), { drop_unknown_source: 3, event_suppressed: 1 })
      // one event per unknown source address within the interval, not one for all of them
      t.deepEqual(
        events.map((e) => e.src),
        ['10.100.9.7', '10.100.9.8'],
      )
      t.like(events[0], {
        type: 'auth_required',
        reason: 'drop_unknown_source',
        srcId: 0,
        dstId: 1,
        dst: '10.100.1.11',
        proto: 'tcp',
        sport: 41000,
        dport: 5432,
        direction: 'to_workload',
        ifindex: LO,
        ingressIfindex: WG,
      })
    } finally {
      dp.config.set({ eventIntervalNs: 0n })
    }
  },
)

/** When pairs are dialed, re-authenticated, retried, expired and revoked. Pure, with explicit time. */
import test from 'ava'
import {
  DEFAULT_REAUTH_TIMING,
  PairTable,
  pairKey,
  reauthAt,
  reauthTiming,
} from '../../daemon/pairauth/index.js'
import { DB, WEB } from './fixture.js'

const T0 = Date.UTC(2030, 0, 1)
const HOUR = 3_600_000
const planned = (initiator: boolean) => ({
  key: pairKey(WEB, DB, 'node2'),
  local: WEB,
  remote: DB,
  node: 'node2',
  initiator,
})

test('the initiator dials a new pair at once, the responder only after the grace', (t) => {
  const a = new PairTable()
  a.reconcile([planned(true)], T0)
  t.is(a.takeDue(T0).length, 1)
  const b = new PairTable()
  b.reconcile([planned(false)], T0)
  t.is(b.takeDue(T0).length, 0)
  t.is(b.takeDue(T0 + DEFAULT_REAUTH_TIMING.responderGraceMs).length, 1)
})

test('a pair in flight is not handed out twice', (t) => {
  const a = new PairTable()
  a.reconcile([planned(true)], T0)
  t.is(a.takeDue(T0).length, 1)
  t.is(a.takeDue(T0 + HOUR).length, 0)
})

interface ReauthCase {
  name: string
  initiator: boolean
  random: number
  /** Expected re-auth point as a fraction of the lifetime. */
  fraction: number
}

const reauthCases: ReauthCase[] = [
  {
    name: 'the initiator re-authenticates at 2/3 of the lifetime without jitter',
    initiator: true,
    random: 0,
    fraction: 2 / 3,
  },
  {
    name: 'jitter moves the initiator earlier, by up to a tenth of the lifetime',
    initiator: true,
    random: 1,
    fraction: 2 / 3 - 0.1,
  },
  {
    name: 'the responder takes over only at 5/6 of the lifetime',
    initiator: false,
    random: 0,
    fraction: 5 / 6,
  },
  {
    name: "the responder's earliest point is after the initiator's latest",
    initiator: false,
    random: 1,
    fraction: 5 / 6 - 0.1,
  },
]

for (const c of reauthCases) {
  test(c.name, (t) => {
    const table = new PairTable({ random: () => c.random })
    table.reconcile([planned(c.initiator)], T0)
    table.takeDue(T0 + 10_000)
    const s = table.succeeded(pairKey(WEB, DB, 'node2'), T0 + HOUR, ['10.100.2.21'], T0)
    t.truthy(s)
    t.is(s?.dialAt, Math.round(T0 + HOUR * c.fraction))
    t.is(table.deadlineOf(s!.key), s?.dialAt)
  })
}

test('re-auth points lie before expiry for any random value', (t) => {
  const timing = reauthTiming()
  for (const r of [0, 0.25, 0.5, 0.999]) {
    for (const initiator of [true, false]) {
      const at = reauthAt(T0, T0 + HOUR, initiator, timing, () => r)
      t.true(at > T0 && at < T0 + HOUR)
    }
  }
})

test('failures back off exponentially up to the cap', (t) => {
  const table = new PairTable({ random: () => 1 })
  table.reconcile([planned(true)], T0)
  const key = pairKey(WEB, DB, 'node2')
  const delays: number[] = []
  let now = T0
  for (let i = 0; i < 9; i++) {
    table.takeDue(now)
    table.failed(key, 'unreachable', now)
    const next = table.get(key)!.dialAt!
    delays.push(next - now)
    now = next
  }
  t.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
})

test('a definitive refusal of an authenticated pair revokes it; a transport failure does not', (t) => {
  const table = new PairTable()
  table.reconcile([planned(true)], T0)
  const key = pairKey(WEB, DB, 'node2')
  table.takeDue(T0)
  table.succeeded(key, T0 + HOUR, ['10.100.2.21'], T0)
  table.takeDue(T0 + HOUR * 0.7)
  t.false(table.failed(key, 'timeout', T0 + HOUR * 0.7)?.revoke)
  t.is(table.get(key)?.expiresAt, T0 + HOUR)
  table.takeDue(T0 + HOUR * 0.8)
  t.true(table.failed(key, 'policy_denied', T0 + HOUR * 0.8)?.revoke)
  t.is(table.get(key)?.expiresAt, undefined)
})

test('an expired entry is handed back for deletion and the pair is dialed again', (t) => {
  const table = new PairTable()
  table.reconcile([planned(false)], T0)
  const key = pairKey(WEB, DB, 'node2')
  table.succeeded(key, T0 + HOUR, ['10.100.2.21'], T0)
  t.deepEqual(table.takeExpired(T0 + HOUR - 1), [])
  const expired = table.takeExpired(T0 + HOUR)
  t.is(expired.length, 1)
  t.is(table.get(key)?.expiresAt, undefined)
  t.is(table.takeDue(T0 + HOUR).length, 1)
})

test('an outcome for a pair that is no longer planned writes nothing', (t) => {
  const table = new PairTable()
  table.reconcile([planned(true)], T0)
  table.takeDue(T0)
  table.reconcile([], T0 + 1)
  t.is(table.succeeded(pairKey(WEB, DB, 'node2'), T0 + HOUR, [], T0 + 2), undefined)
})

test('an auth-required event dials a responder pair at once', (t) => {
  const table = new PairTable()
  table.reconcile([planned(false)], T0)
  t.deepEqual(table.demand(WEB, DB, T0 + 5), [pairKey(WEB, DB, 'node2')])
  t.is(table.takeDue(T0 + 5).length, 1)
  t.deepEqual(table.demand(WEB, DB, T0 + 6), [], 'not while in flight')
})

test('a timing whose responder window overlaps the initiator window is refused', (t) => {
  const err = t.throws(() =>
    reauthTiming({ reauthFraction: 0.8, responderFraction: 0.85, jitterFraction: 0.1 }),
  )
  t.is((err as { code?: string }).code, 'LATCH_ERR_PAIRAUTH_BAD_ARGUMENT')
})

/** One coarse timer for many deadlines, driven by a fake clock. */
import test from 'ava'
import { DeadlineScheduler } from '../../daemon/base/deadline-scheduler.js'
import { FakeClock } from './fake-clock.js'

function setup(granularityMs = 100) {
  const clock = new FakeClock(Date.UTC(2030, 0, 1))
  const fired: { keys: string[]; at: number }[] = []
  const s = new DeadlineScheduler<string>(
    (keys, now) => fired.push({ keys: [...keys].sort(), at: now - t0 }),
    {
      clock,
      granularityMs,
    },
  )
  const t0 = clock.now()
  return { clock, s, fired, t0 }
}

test('a thousand deadlines share one armed timer', (t) => {
  const { clock, s, t0 } = setup()
  for (let i = 0; i < 1000; i++) s.set(`k${i}`, t0 + 1000 + i * 37)
  t.is(clock.pending().length, 1)
  t.true(clock.timersSet <= 2, `set ${clock.timersSet} timers`)
})

test('deadlines in the same slot fire together, in one call, at the slot boundary', (t) => {
  const { clock, s, fired, t0 } = setup(100)
  s.set('a', t0 + 1010)
  s.set('b', t0 + 1090)
  s.set('c', t0 + 1150)
  clock.advance(1100)
  t.deepEqual(fired, [{ keys: ['a', 'b'], at: 1100 }])
  clock.advance(100)
  t.deepEqual(fired[1], { keys: ['c'], at: 1200 })
  t.is(clock.pending().length, 0)
})

test('setting a key again replaces its deadline, earlier or later', (t) => {
  const { clock, s, fired, t0 } = setup()
  s.set('a', t0 + 5000)
  s.set('a', t0 + 1000)
  s.set('b', t0 + 2000)
  s.set('b', t0 + 9000)
  clock.advance(10_000)
  t.deepEqual(fired, [
    { keys: ['a'], at: 1000 },
    { keys: ['b'], at: 9000 },
  ])
})

test('a deleted key never fires and its timer is released', (t) => {
  const { clock, s, fired, t0 } = setup()
  s.set('a', t0 + 1000)
  t.true(s.delete('a'))
  t.is(clock.pending().length, 0)
  clock.advance(5000)
  t.deepEqual(fired, [])
})

test('a deadline in the past fires on the next turn of the timer', (t) => {
  const { clock, s, fired, t0 } = setup()
  s.set('late', t0 - 500)
  clock.advance(0)
  t.deepEqual(fired, [{ keys: ['late'], at: 0 }])
})

test('a callback may set new deadlines, including ones already due', (t) => {
  const clock = new FakeClock(Date.UTC(2030, 0, 1))
  const t0 = clock.now()
  const seen: string[] = []
  const s: DeadlineScheduler<string> = new DeadlineScheduler(
    (keys, now) => {
      for (const k of keys) {
        seen.push(`${k}@${now - t0}`)
        if (k === 'a') s.set('a2', now + 300)
      }
    },
    { clock },
  )
  s.set('a', t0 + 100)
  clock.advance(1000)
  t.deepEqual(seen, ['a@100', 'a2@400'])
})

test('many replacements keep the heap compact', (t) => {
  const { s, t0 } = setup()
  for (let i = 0; i < 10_000; i++) s.set('same', t0 + 1000 + i)
  t.is(s.size, 1)
  t.is(s.next(), t0 + 1000 + 9999)
})

test('after stop nothing fires', (t) => {
  const { clock, s, fired, t0 } = setup()
  s.set('a', t0 + 100)
  s.stop()
  s.set('b', t0 + 100)
  clock.advance(1000)
  t.deepEqual(fired, [])
  t.is(clock.pending().length, 0)
})

import test from 'ava'
import { Backoff } from '../../daemon/base/backoff.js'
import { roleFor } from '../../daemon/node/roles.js'

test('exactly one side of every pair dials', (t) => {
  const names = ['node1', 'node2', 'node10', 'a', 'b-1', 'z9']
  for (const x of names) {
    for (const y of names) {
      if (x === y) continue
      t.not(roleFor(x, y), roleFor(y, x), `${x}/${y}`)
    }
  }
  t.throws(() => roleFor('node1', 'node1'))
})

test('backoff delays stay within [d/2, d], double, cap, and reset', (t) => {
  const low = new Backoff({ baseMs: 100, capMs: 1000 }, () => 0)
  t.deepEqual(
    [1, 2, 3, 4, 5, 6].map(() => low.next()),
    [50, 100, 200, 400, 500, 500],
  )
  low.reset()
  t.is(low.failures, 0)
  t.is(low.next(), 50)
  const mid = new Backoff({ baseMs: 100, capMs: 1000 }, () => 0.5)
  t.deepEqual(
    [1, 2, 3].map(() => mid.next()),
    [75, 150, 300],
  )
})

import test from 'ava'
import { inParallel } from '../../daemon/base/in-parallel.js'

test('at most `limit` calls in flight, started in list order, all done at the end', async (t) => {
  let inFlight = 0
  let most = 0
  const started: number[] = []
  const done = new Set<number>()
  await inParallel([...Array(50).keys()], 4, async (x) => {
    started.push(x)
    inFlight++
    most = Math.max(most, inFlight)
    await new Promise((r) => setImmediate(r))
    inFlight--
    done.add(x)
  })
  t.is(most, 4)
  t.deepEqual(started, [...Array(50).keys()])
  t.is(done.size, 50)
})

test('the first failure rejects; no call starts after it', async (t) => {
  const started: number[] = []
  const err = await t.throwsAsync(
    inParallel([...Array(20).keys()], 3, async (x) => {
      started.push(x)
      await new Promise((r) => setImmediate(r))
      if (x === 4) throw new Error('boom 4')
    }),
  )
  t.is(err?.message, 'boom 4')
  t.true(Math.max(...started) <= 4 + 3, `started ${started.join(',')}`)
})

test('an empty list resolves without calling', async (t) => {
  let calls = 0
  await inParallel([], 8, async () => {
    calls++
  })
  t.is(calls, 0)
})

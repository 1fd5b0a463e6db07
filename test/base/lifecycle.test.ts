import test from 'ava'
import { type Component, startComponents } from '../../daemon/base/lifecycle.js'

/** Components that record their starts and stops in one log; `failStart`/`failStop` name the ones that throw. */
function recorded(names: string[], fail: { start?: string; stop?: string } = {}) {
  const log: string[] = []
  const components: Component<{ log: string[] }>[] = names.map((name) => ({
    name,
    async start(ctx) {
      await Promise.resolve()
      if (name === fail.start) throw new Error(`${name} cannot start`)
      ctx.log.push(`start ${name}`)
    },
    stop(ctx) {
      ctx.log.push(`stop ${name}`)
      if (name === fail.stop) throw new Error(`${name} cannot stop`)
    },
  }))
  return { log, components, ctx: { log } }
}

test('components start in order and stop in reverse order, once', async (t) => {
  const r = recorded(['a', 'b', 'c'])
  const running = await startComponents(r.components, r.ctx)
  t.deepEqual(running.started, ['a', 'b', 'c'])
  t.deepEqual(await running.stop(), [])
  await running.stop()
  t.deepEqual(r.log, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a'])
})

test('a component failing in the middle stops the earlier ones in reverse; later ones never start', async (t) => {
  const r = recorded(['a', 'b', 'c', 'd', 'e'], { start: 'c' })
  const err = await t.throwsAsync(startComponents(r.components, r.ctx))
  t.is(err?.message, 'c cannot start')
  t.deepEqual(r.log, ['start a', 'start b', 'stop b', 'stop a'])
})

test('the first component failing stops nothing', async (t) => {
  const r = recorded(['a', 'b'], { start: 'a' })
  await t.throwsAsync(startComponents(r.components, r.ctx), { message: 'a cannot start' })
  t.deepEqual(r.log, [])
})

test('a stop that fails is reported and the earlier components are still stopped', async (t) => {
  const r = recorded(['a', 'b', 'c'], { stop: 'b' })
  const running = await startComponents(r.components, r.ctx)
  const failures = await running.stop()
  t.deepEqual(
    failures.map((f) => [f.component, (f.error as Error).message]),
    [['b', 'b cannot stop']],
  )
  t.deepEqual(r.log.slice(3), ['stop c', 'stop b', 'stop a'])
})

test('while unwinding a failed start, a failing stop is reported and the start error is the one thrown', async (t) => {
  const r = recorded(['a', 'b', 'c'], { start: 'c', stop: 'b' })
  const reported: string[] = []
  await t.throwsAsync(
    startComponents(r.components, r.ctx, (f) => reported.push(f.component)),
    { message: 'c cannot start' },
  )
  t.deepEqual(reported, ['b'])
  t.deepEqual(r.log, ['start a', 'start b', 'stop b', 'stop a'])
})

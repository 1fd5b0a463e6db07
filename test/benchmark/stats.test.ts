import test from 'ava'
import { parseProcStat, procCpu, statusKb } from '../../scripts/benchmark/procfs.js'
import { percentile, summarize } from '../../scripts/benchmark/stats.js'

const cases: Array<[string, number[], number, number]> = [
  ['p50 of 1..100 is 50 (nearest rank)', Array.from({ length: 100 }, (_, i) => i + 1), 50, 50],
  ['p99 of 1..100 is 99', Array.from({ length: 100 }, (_, i) => i + 1), 99, 99],
  ['p99 of ten samples is the largest', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99, 10],
  ['p50 of one sample is that sample', [7], 50, 7],
]
for (const [name, xs, p, want] of cases) {
  test(name, (t) => t.is(percentile(xs, p), want))
}

test('summarize sorts before taking percentiles and reports the mean', (t) => {
  const s = summarize([30, 10, 20])
  t.deepEqual({ ...s }, { n: 3, min: 10, p50: 20, p99: 30, max: 30, mean: 20 })
})

test('summarize of no samples is NaN, not a crash', (t) => t.true(Number.isNaN(summarize([]).p50)))

test('/proc/stat system and irq+softirq are read in seconds of USER_HZ ticks', (t) => {
  const m = parseProcStat('cpu  100 0 250 9000 10 5 45 0 0 0\ncpu0 50 0 125 4500 5 2 22 0 0 0\n')
  t.deepEqual(m, { system: 2.5, irq: 0.5, total: 94.1 })
})

test('a live process has CPU time and a peak RSS; a missing one has neither', async (t) => {
  let x = 0
  for (let i = 0; i < 5e7; i++) x += i
  t.true(x > 0)
  const self = await procCpu(process.pid)
  t.truthy(self)
  t.true(self!.cpu > 0)
  t.true((await statusKb(process.pid, 'VmHWM'))! > 1000)
  t.is(await procCpu(2 ** 22 + 1), undefined)
  t.is(await statusKb(2 ** 22 + 1, 'VmHWM'), undefined)
})

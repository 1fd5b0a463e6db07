import test from 'ava'
import { bootNsToWall, kernelClock, wallToBootNs } from '../../daemon/datapath/clock.js'

const sample = { bootNs: 5_000_000_000n, realNs: 1_700_000_000_000_000_000n }

test('a wall-clock instant becomes boot ns by the offset of one sample of both clocks', (t) => {
  const in10s = new Date(1_700_000_010_000)
  t.is(wallToBootNs(in10s, sample), 15_000_000_000n)
  t.is(bootNsToWall(15_000_000_000n, sample).getTime(), in10s.getTime())
})

test('an instant before boot is clamped to zero (already expired)', (t) => {
  t.is(wallToBootNs(new Date(0), sample), 0n)
})

test('the kernel clock samples CLOCK_BOOTTIME near CLOCK_REALTIME now', (t) => {
  const s = kernelClock.sample()
  t.true(s.bootNs > 0n)
  const wallMs = Number(s.realNs / 1_000_000n)
  t.true(Math.abs(wallMs - Date.now()) < 1000)
  const again = kernelClock.sample()
  t.true(again.bootNs >= s.bootNs, 'boot time does not go backwards')
})

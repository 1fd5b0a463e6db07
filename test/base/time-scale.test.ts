import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { parseTimeScale } from '../../daemon/base/time-scale.js'

test('LATCH_TIME_SCALE: unset or empty is 1, a number from 1 to 1000 is taken as is', (t) => {
  t.is(parseTimeScale(undefined), 1)
  t.is(parseTimeScale(' '), 1)
  t.is(parseTimeScale('15'), 15)
  t.is(parseTimeScale('2.5'), 2.5)
})

test('LATCH_TIME_SCALE: anything else is refused with its own error code, never ignored', (t) => {
  for (const bad of ['0', '0.5', '-3', 'fast', '1e6', 'NaN']) {
    const err = t.throws(() => parseTimeScale(bad))
    t.true(isLatchError(err, 'LATCH_ERR_TIME_SCALE_INVALID'), `${bad}: ${String(err)}`)
    t.true(err?.message.includes(JSON.stringify(bad)))
  }
})

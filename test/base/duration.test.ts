import test from 'ava'
import { durationWithin, formatDuration, parseDuration } from '../../daemon/base/duration.js'
import { isLatchError } from '../../daemon/base/errors.js'

const good: Array<[string, number, string]> = [
  ['90s', 90_000, '1m30s'],
  ['30m', 1_800_000, '30m'],
  ['24h', 86_400_000, '1d'],
  ['7d', 604_800_000, '7d'],
  ['1h30m', 5_400_000, '1h30m'],
]
for (const [text, ms, formatted] of good) {
  test(`parseDuration reads ${text} as ${ms} ms, formatted ${formatted}`, (t) => {
    t.is(parseDuration(text), ms)
    t.is(formatDuration(ms), formatted)
  })
}

for (const text of ['', 'soon', '10', '1.5h', '-5m', '0s', '1w', '5 m', 'h1']) {
  test(`parseDuration rejects ${JSON.stringify(text)} with LATCH_ERR_PKI_BAD_TTL`, (t) => {
    t.true(
      isLatchError(
        t.throws(() => parseDuration(text)),
        'LATCH_ERR_PKI_BAD_TTL',
      ),
    )
  })
}

test('durationWithin refuses values outside the range and names the range', (t) => {
  t.is(durationWithin('1h', 1000, 86_400_000, 'ttl'), 3_600_000)
  const err = t.throws(() => durationWithin('2d', 1000, 86_400_000, 'workload ttl'))
  t.true(isLatchError(err, 'LATCH_ERR_PKI_BAD_TTL'))
  t.regex(err.message, /between 1s and 1d/)
})

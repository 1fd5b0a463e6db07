import test from 'ava'
import { asLatchError, ERRORS, LatchError } from '../../daemon/base/errors.js'

test('every registered code is LATCH_ERR_<AREA>_<WHAT> with an exit code and a fix', (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.regex(code, /^LATCH_ERR_[A-Z]+_[A-Z_]+$/, code)
    t.true(spec.exit > 0 && spec.exit < 126, code)
    t.true(spec.fix.length > 10, code)
  }
})

test('a LatchError carries its code, fix, exit code and cause', (t) => {
  const cause = new Error('boom')
  const e = new LatchError('LATCH_ERR_PKI_CA_MISSING', 'no CA in /x', { cause, details: { dir: '/x' } })
  t.is(e.code, 'LATCH_ERR_PKI_CA_MISSING')
  t.is(e.exitCode, 66)
  t.is(e.cause, cause)
  t.deepEqual(e.toJSON().dir, '/x')
})

test('anything else thrown becomes an internal error', (t) => {
  t.is(asLatchError(new TypeError('x')).code, 'LATCH_ERR_INTERNAL_BUG')
})

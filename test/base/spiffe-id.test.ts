import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { nodeNameOf, nodeSpiffeId, parseSpiffeId, parseTrustDomain } from '../../daemon/base/spiffe-id.js'

const valid: Array<[string, string, string]> = [
  ['a workload ID', 'spiffe://example.org/ns/shop/sa/web', '/ns/shop/sa/web'],
  ['a trust-domain ID', 'spiffe://example.org', ''],
  ['segments with dots, dashes and underscores', 'spiffe://a-b_c.d/x.y/Z-9_', '/x.y/Z-9_'],
]
for (const [name, id, path] of valid) {
  test(`accepts ${name}`, (t) => {
    const parsed = parseSpiffeId(id)
    t.is(parsed.path, path)
    t.is(parsed.toString(), id)
  })
}

const invalid: Array<[string, string, RegExp]> = [
  ['an empty string', '', /empty/],
  ['another scheme', 'https://example.org/x', /start with "spiffe:\/\/"/],
  ['an uppercase scheme', 'SPIFFE://example.org/x', /lowercase/],
  ['an uppercase trust domain', 'spiffe://Example.org/x', /lowercase/],
  ['a port', 'spiffe://example.org:8080/x', /port/],
  ['user info', 'spiffe://user@example.org/x', /user info/],
  ['an empty trust domain', 'spiffe:///x', /trust domain is empty/],
  ['a trailing slash', 'spiffe://example.org/x/', /end with/],
  ['an empty segment', 'spiffe://example.org/a//b', /empty segment/],
  ['a dot segment', 'spiffe://example.org/a/./b', /"\." segment/],
  ['a dot-dot segment', 'spiffe://example.org/a/../b', /"\.\." segment/],
  ['a percent-encoded character', 'spiffe://example.org/a%20b', /character other than/],
  ['a query', 'spiffe://example.org/a?x=1', /query/],
  ['a fragment', 'spiffe://example.org/a#x', /fragment/],
  ['more than 2048 bytes', `spiffe://example.org/${'a'.repeat(2048)}`, /longer than 2048/],
]
for (const [name, id, reason] of invalid) {
  test(`rejects ${name} with LATCH_ERR_SPIFFE_MALFORMED`, (t) => {
    const err = t.throws(() => parseSpiffeId(id))
    t.true(isLatchError(err, 'LATCH_ERR_SPIFFE_MALFORMED'))
    t.regex(err.message, reason)
  })
}

test('requirePath refuses a trust-domain ID', (t) => {
  t.throws(() => parseSpiffeId('spiffe://example.org', { requirePath: true }), { message: /no path/ })
})

test('node IDs round-trip', (t) => {
  const id = nodeSpiffeId('example.org', 'node1')
  t.is(id.toString(), 'spiffe://example.org/latch/node/node1')
  t.is(nodeNameOf(id), 'node1')
  t.is(nodeNameOf(parseSpiffeId('spiffe://example.org/ns/a/sa/b')), undefined)
})

test('a trust domain alone is validated the same way', (t) => {
  t.is(parseTrustDomain('lab.latch'), 'lab.latch')
  t.throws(() => parseTrustDomain('Lab'), { code: 'LATCH_ERR_SPIFFE_MALFORMED' } as never)
})

/** The revocation list: its format (every problem named, file kept out) and what it matches. */
import test from 'ava'
import { LatchError } from '../../daemon/base/errors.js'
import { normalizeSerial, parseRevocations } from '../../daemon/identity/revocation.js'

const TD = 'lab.latch'
const W = `spiffe://${TD}/ns/lab/sa/node1-w2`

test('a list names nodes, SPIFFE IDs and serials, and says why each is revoked', (t) => {
  const list = parseRevocations(
    `version: 1
trustDomain: ${TD}
revoked:
  - node: node3
    reason: decommissioned
  - spiffeId: ${W}
  - serial: "0A:BC:01"
`,
    'rev.yaml',
    TD,
  )
  t.is(list.entries.length, 3)
  t.is(list.revokedId(`spiffe://${TD}/latch/node/node3`), 'decommissioned')
  t.regex(list.revokedId(W) ?? '', /spiffeId/)
  t.is(list.revokedId(`spiffe://${TD}/ns/lab/sa/node1-w1`), undefined)
  t.truthy(list.revoked({ serial: 'abc01', spiffeId: undefined }))
  t.truthy(list.revoked({ serial: '000ABC01', spiffeId: undefined }))
  t.is(list.revoked({ serial: 'abc02', spiffeId: `spiffe://${TD}/ns/lab/sa/x` }), undefined)
  t.truthy(list.revoked({ serial: 'ff', spiffeId: W }))
})

test('an empty list revokes nothing and has a stable digest', (t) => {
  const a = parseRevocations(`version: 1\ntrustDomain: ${TD}\nrevoked: []\n`, 'r', TD)
  const b = parseRevocations(`version: 1\ntrustDomain: ${TD}\n`, 'r', TD)
  t.is(a.entries.length, 0)
  t.is(a.digest, b.digest)
})

const bad: Array<[string, string, RegExp]> = [
  ['a wrong version', `version: 2\ntrustDomain: ${TD}\n`, /version: must be 1/],
  ['another trust domain', `version: 1\ntrustDomain: other.latch\n`, /not this node's trust domain/],
  ['an unknown key', `version: 1\ntrustDomain: ${TD}\nrevokd: []\n`, /unknown key "revokd"/],
  [
    'an entry with two selectors',
    `version: 1\ntrustDomain: ${TD}\nrevoked: [{node: a, serial: "01"}]\n`,
    /exactly one of/,
  ],
  [
    'a serial that is not hex',
    `version: 1\ntrustDomain: ${TD}\nrevoked: [{serial: xyz}]\n`,
    /not a hex serial/,
  ],
  [
    'a SPIFFE ID of another trust domain',
    `version: 1\ntrustDomain: ${TD}\nrevoked: [{spiffeId: "spiffe://x.org/a"}]\n`,
    /not in trust domain/,
  ],
  ['a bad node name', `version: 1\ntrustDomain: ${TD}\nrevoked: [{node: "Node_1"}]\n`, /revoked\[0\]\.node/],
  ['broken YAML', 'version: [1\n', /rev\.yaml/],
]
for (const [what, text, message] of bad) {
  test(`a list with ${what} is refused with LATCH_ERR_REVOCATION_INVALID`, (t) => {
    const err = t.throws(() => parseRevocations(text, 'rev.yaml', TD))
    t.true(err instanceof LatchError)
    t.is((err as LatchError).code, 'LATCH_ERR_REVOCATION_INVALID')
    t.regex(err?.message ?? '', message)
  })
}

test('serials compare without separators, case or leading zeros', (t) => {
  t.is(normalizeSerial('00:0A:bC'), 'abc')
  t.is(normalizeSerial('0'), '0')
})

/** OpenSSL's verdict, read first (issue 11): its error codes map to verify() reasons; others are just "untrusted". */
import test from 'ava'
import { opensslVerdict } from '../../daemon/handshake/openssl-verdict.js'

test('an authorized chain passes', (t) => {
  t.deepEqual(opensslVerdict(true, undefined), { ok: true })
})

const cases: [string, string | undefined][] = [
  ['CERT_HAS_EXPIRED', 'expired'],
  ['CERT_NOT_YET_VALID', 'not_yet_valid'],
  ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown_issuer'],
  ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown_issuer'],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown_issuer'],
  ['CERT_SIGNATURE_FAILURE', 'bad_signature'],
  // node:tls names no name-constraint code: verify() finds that reason
  ['UNSPECIFIED', undefined],
  ['CERT_CHAIN_TOO_LONG', 'path_too_long'],
  ['HOSTNAME_MISMATCH', undefined],
  ['', undefined],
  // an inherited property name is not a code
  ['constructor', undefined],
]
for (const [code, reason] of cases) {
  test(`OpenSSL's ${code || '(no code)'} is ${reason ?? 'untrusted without a reason'}`, (t) => {
    const v = opensslVerdict(false, code)
    t.like(v, { ok: false, reason })
    if (!v.ok) t.true(v.message.startsWith('TLS path validation failed: '))
  })
}

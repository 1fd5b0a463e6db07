/**
 * verifyRemembered() answers what verify() answers: a remembered success never outlives the path's
 * validity, another revocation list, another bundle, purpose or trust domain; failures are never
 * remembered.
 */
import test from 'ava'
import { verify } from '../../certs/verify.js'
import { verifyRemembered } from '../../certs/verify-memo.js'
import { chainDer, makePki, type Pki, removeDir, TD } from './helpers.js'

let pki: Pki
let other: Pki

test.before(async () => {
  pki = await makePki()
  other = await makePki()
})

test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
  if (other) await removeDir(other.dir)
})

test('a remembered success is the same success, and only for the same question', (t) => {
  const chain = chainDer(pki.w1.chainPem)
  const bundle = { roots: pki.root, trustDomain: TD }
  const first = verifyRemembered(chain, bundle, { purpose: 'client', kind: 'workload' })
  t.true(first.ok)
  const again = verifyRemembered(chain, bundle, { purpose: 'client', kind: 'workload' })
  t.is(again, first, 'the second call is answered from memory')
  t.like(verifyRemembered(chain, { roots: other.root, trustDomain: TD }), {
    ok: false,
    reason: 'unknown_issuer',
  })
  t.like(verifyRemembered(chain, { roots: pki.root, trustDomain: 'other.latch' }), {
    ok: false,
    reason: 'wrong_trust_domain',
  })
  t.like(verifyRemembered(chain, bundle, { kind: 'node' }), verify(chain, bundle, { kind: 'node' }))
  t.like(verifyRemembered(chainDer(pki.w2.chainPem), bundle, { purpose: 'client' }), { ok: true })
})

test('outside the validity of the path the chain is verified again (expired, not yet valid)', (t) => {
  const chain = chainDer(pki.w1.chainPem)
  const bundle = { roots: pki.root, trustDomain: TD }
  t.true(verifyRemembered(chain, bundle).ok)
  const later = new Date(Date.now() + 400 * 86_400_000)
  t.like(verifyRemembered(chain, bundle, { at: later }), { ok: false, reason: 'expired' })
  const earlier = new Date(Date.now() - 86_400_000)
  t.like(verifyRemembered(chain, bundle, { at: earlier }), { ok: false, reason: 'not_yet_valid' })
  t.true(verifyRemembered(chain, bundle).ok)
})

test('a new revocation list is a new question: a revoked SVID verified before is refused', (t) => {
  const chain = chainDer(pki.w1.chainPem)
  const none = { revoked: () => undefined }
  t.true(verifyRemembered(chain, { roots: pki.root, trustDomain: TD, revocations: none }).ok)
  const list = {
    revoked: (c: { spiffeId: string | undefined }) =>
      c.spiffeId === `spiffe://${TD}/ns/lab/sa/node1-w1` ? 'compromised' : undefined,
  }
  t.like(verifyRemembered(chain, { roots: pki.root, trustDomain: TD, revocations: list }), {
    ok: false,
    reason: 'revoked',
  })
  // and a failure is not remembered as one either
  t.true(verifyRemembered(chain, { roots: pki.root, trustDomain: TD, revocations: none }).ok)
})

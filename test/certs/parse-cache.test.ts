/**
 * verify() memoises parsed certificates, name constraints and good signatures: verdicts must be the
 * same warm as cold, whatever order bundles, chains and times come in, and a cached good signature
 * must never vouch for a different issuer.
 */
import { X509Certificate } from 'node:crypto'
import test from 'ava'
import { parseChainCached, signatureVerifies } from '../../certs/parse-cache.js'
import { verify } from '../../certs/verify.js'
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

test('the same chain alternately against its own and a foreign bundle keeps its verdicts', (t) => {
  const chain = chainDer(pki.w1.chainPem)
  for (let i = 0; i < 3; i++) {
    t.true(verify(chain, { roots: pki.root, trustDomain: TD }).ok)
    t.like(verify(chain, { roots: other.root, trustDomain: TD }), { ok: false, reason: 'unknown_issuer' })
    t.like(verify(pki.w1.chainPem, { roots: pki.root, trustDomain: 'other.latch' }), {
      ok: false,
      reason: 'wrong_trust_domain',
    })
  }
})

test('a warm cache still checks time: the same chain verified later is expired', (t) => {
  const chain = chainDer(pki.w1.chainPem)
  t.true(verify(chain, { roots: pki.root, trustDomain: TD }).ok)
  const later = new Date(Date.now() + 2 * 3_600_000)
  t.like(verify(chain, { roots: pki.root, trustDomain: TD }, { at: later }), { ok: false, reason: 'expired' })
  t.true(verify(chain, { roots: pki.root, trustDomain: TD }).ok)
})

test('PEM, DER and node:crypto inputs of one certificate share one parsed object', (t) => {
  const [fromPem] = parseChainCached(pki.w1.certPem)
  const [fromDer] = parseChainCached(chainDer(pki.w1.certPem))
  const [fromNode] = parseChainCached(new X509Certificate(pki.w1.certPem))
  t.is(fromPem, fromDer)
  t.is(fromDer, fromNode)
  t.true(Object.isFrozen(fromPem))
})

test('a remembered good signature does not vouch for another issuer', (t) => {
  const [leaf, intermediate] = parseChainCached(pki.w1.chainPem)
  const [, foreignIntermediate] = parseChainCached(other.w1.chainPem)
  t.true(signatureVerifies(leaf!, intermediate!))
  t.true(signatureVerifies(leaf!, intermediate!))
  t.false(signatureVerifies(leaf!, foreignIntermediate!))
})

test('garbage in a PEM block is still malformed_certificate, warm or cold', (t) => {
  const bad = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
  for (let i = 0; i < 2; i++) {
    t.like(verify(bad, { roots: pki.root, trustDomain: TD }), { ok: false, reason: 'malformed_certificate' })
  }
})

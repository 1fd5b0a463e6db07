import test from 'ava'
import { type VerifyReason, verify } from '../../certs/verify.js'
import { forgeOnNode1, makePki, type Pki, removeDir, TD, W1, W2 } from './helpers.js'
import { type Endpoint, mutualTls } from './tls-pair.js'

let pki: Pki
let foreign: Pki

test.before(async () => {
  pki = await makePki()
  foreign = await makePki(undefined, TD) // same trust domain name, different root: must not be trusted
})

test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
  if (foreign) await removeDir(foreign.dir)
})

test('two issued workload identities complete a TLS 1.3 mutual handshake and see each other', async (t) => {
  const out = await mutualTls(pki.w1, pki.w2, pki.root)
  t.true(out.ok, JSON.stringify(out))
  t.is(out.protocol, 'TLSv1.3')
  t.is(out.clientSawServer, W1)
  t.is(out.serverSawClient, W2)
  const bundle = { roots: pki.root, trustDomain: TD }
  const server = verify(pki.w1.chainPem, bundle, { purpose: 'server', spiffeId: W1 })
  const client = verify(pki.w2.chainPem, bundle, { purpose: 'client', spiffeId: W2 })
  t.true(server.ok && client.ok, JSON.stringify([server, client]))
})

const HOUR = 3_600_000
/** [case, how to make the bad endpoint, verify() reason, what OpenSSL tells the client about the server] */
const bad: Array<[string, (p: Pki) => Promise<Endpoint>, VerifyReason, RegExp]> = [
  [
    'a certificate for an IP outside the node CIDRs',
    (p) => forgeOnNode1(p, { uris: [W1], ips: ['10.100.2.11'] }),
    'name_constraint_violation',
    /permitted subtree violation/,
  ],
  [
    'an expired certificate',
    (p) =>
      forgeOnNode1(p, {
        uris: [W1],
        ips: ['10.100.1.11'],
        notBefore: new Date(Date.now() - 2 * HOUR),
        notAfter: new Date(Date.now() - HOUR),
      }),
    'expired',
    /certificate has expired/,
  ],
  [
    'a not-yet-valid certificate',
    (p) =>
      forgeOnNode1(p, {
        uris: [W1],
        ips: ['10.100.1.11'],
        notBefore: new Date(Date.now() + HOUR),
        notAfter: new Date(Date.now() + 2 * HOUR),
      }),
    'not_yet_valid',
    /certificate is not yet valid/,
  ],
  [
    'a certificate from a foreign CA of the same trust domain name',
    async () => foreign.w1,
    'unknown_issuer',
    /unable to (get local issuer|verify the first) certificate|certificate signature failure/,
  ],
  [
    'a certificate for another trust domain under the node CA',
    (p) => forgeOnNode1(p, { uris: ['spiffe://evil.latch/ns/lab/sa/x'], ips: ['10.100.1.11'] }),
    'wrong_trust_domain',
    /permitted subtree violation/,
  ],
]

for (const [name, make, reason, opensslSays] of bad) {
  test(`the handshake fails both ways with ${name}, and verify() says ${reason}`, async (t) => {
    const badEndpoint = await make(pki)
    const asClient = await mutualTls(pki.w1, badEndpoint, pki.root)
    t.false(asClient.ok, `bad client accepted: ${JSON.stringify(asClient)}`)
    // node:tls servers drop a client whose certificate fails (rejectUnauthorized) without an error event
    t.is(asClient.serverSawClient, undefined, 'the server never accepted the client')
    const asServer = await mutualTls(badEndpoint, pki.w2, pki.root)
    t.false(asServer.ok, `bad server accepted: ${JSON.stringify(asServer)}`)
    t.regex(asServer.clientError ?? '', opensslSays)
    const result = verify(badEndpoint.chainPem, { roots: pki.root, trustDomain: TD })
    t.false(result.ok)
    if (!result.ok) t.is(result.reason, reason, result.message)
  })
}

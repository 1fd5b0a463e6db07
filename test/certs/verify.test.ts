/**
 * verify() names the reason for every way a chain can be wrong, and agrees with OpenSSL's own path
 * validation (`openssl verify`) wherever OpenSSL has an opinion; the SPIFFE-only rules (one URI SAN,
 * trust domain, reserved node IDs) are where verify() is stricter than plain X.509.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { type VerifyExpectations, type VerifyReason, verify } from '../../certs/verify.js'
import { x509 } from '../../certs/x509.js'
import { forge, forgeOnNode1, makePki, type Pki, removeDir, TD, W1 } from './helpers.js'

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

interface Case {
  chain: string
  trustDomain?: string
  expect?: VerifyExpectations
}

const HOUR = 3_600_000
const ip = ['10.100.1.11']
const node1Ca = async (p: Pki) => ({
  cert: await readFile(p.node1.caCert, 'utf8'),
  key: await readFile(p.node1.caKey, 'utf8'),
})
const leaf = (p: Pki, o: Parameters<typeof forgeOnNode1>[1]) =>
  forgeOnNode1(p, o).then((f) => ({ chain: f.chainPem }))

/** [what is wrong, build it, verify()'s reason, whether `openssl verify` rejects it too] */
const cases: Array<[string, (p: Pki) => Promise<Case>, VerifyReason, boolean]> = [
  ['text that is not a certificate', async () => ({ chain: 'hello' }), 'malformed_certificate', true],
  ['a leaf without its intermediate', async (p) => ({ chain: p.w1.certPem }), 'unknown_issuer', true],
  ['a chain from another root', async () => ({ chain: other.w1.chainPem }), 'unknown_issuer', true],
  [
    'a leaf signed by a key other than its named issuer',
    async (p) => {
      const imposter = await forge({
        issuerCertPem: (await node1Ca(p)).cert,
        issuerKeyPem: await readFile(other.node1.caKey, 'utf8'),
        uris: [W1],
        ips: ip,
      })
      return { chain: imposter.chainPem }
    },
    'bad_signature',
    true,
  ],
  [
    'an expired leaf',
    (p) =>
      leaf(p, {
        uris: [W1],
        ips: ip,
        notBefore: new Date(Date.now() - 2 * HOUR),
        notAfter: new Date(Date.now() - HOUR),
      }),
    'expired',
    true,
  ],
  [
    'a leaf that is not valid yet',
    (p) =>
      leaf(p, {
        uris: [W1],
        ips: ip,
        notBefore: new Date(Date.now() + HOUR),
        notAfter: new Date(Date.now() + 2 * HOUR),
      }),
    'not_yet_valid',
    true,
  ],
  [
    'an IP outside the node CIDRs',
    (p) => leaf(p, { uris: [W1], ips: ['10.100.2.11'] }),
    'name_constraint_violation',
    true,
  ],
  [
    'an IPv6 address under an IPv4-only node CA',
    (p) => leaf(p, { uris: [W1], ips: ['fd00::1'] }),
    'name_constraint_violation',
    true,
  ],
  ['no URI SAN', (p) => leaf(p, { ips: ip }), 'no_spiffe_id', false],
  [
    'two URI SANs',
    (p) => leaf(p, { uris: [W1, `spiffe://${TD}/ns/lab/sa/other`], ips: ip }),
    'multiple_spiffe_ids',
    false,
  ],
  [
    'a SPIFFE ID with an empty path segment',
    (p) => leaf(p, { uris: [`spiffe://${TD}/ns//x`], ips: ip }),
    'malformed_spiffe_id',
    false,
  ],
  [
    'an https URI instead of a SPIFFE ID',
    (p) => leaf(p, { uris: [`https://${TD}/ns/lab`], ips: ip }),
    'malformed_spiffe_id',
    false,
  ],
  [
    'a SPIFFE ID without a path',
    (p) => leaf(p, { uris: [`spiffe://${TD}`], ips: ip }),
    'malformed_spiffe_id',
    false,
  ],
  [
    'a valid chain checked against another trust domain',
    async (p) => ({ chain: p.w1.chainPem, trustDomain: 'other.latch' }),
    'wrong_trust_domain',
    false,
  ],
  [
    'a node ID signed by a node CA (a node speaking for another node)',
    (p) => leaf(p, { uris: [`spiffe://${TD}/latch/node/node2`], ips: ip }),
    'reserved_spiffe_id',
    false,
  ],
  [
    'a leaf that may sign certificates',
    (p) =>
      leaf(p, {
        uris: [W1],
        ips: ip,
        keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign,
      }),
    'wrong_key_usage',
    false,
  ],
  [
    'a leaf without digitalSignature',
    (p) => leaf(p, { uris: [W1], ips: ip, keyUsage: x509.KeyUsageFlags.keyEncipherment }),
    'wrong_key_usage',
    false,
  ],
  [
    'a code-signing leaf used as a TLS server',
    async (p) => ({
      ...(await leaf(p, { uris: [W1], ips: ip, eku: [x509.ExtendedKeyUsage.codeSigning] })),
      expect: { purpose: 'server' },
    }),
    'wrong_key_usage',
    true,
  ],
  [
    'a leaf that is a CA',
    (p) => leaf(p, { uris: [W1], ips: ip, ca: true, keyUsage: x509.KeyUsageFlags.digitalSignature }),
    'leaf_is_ca',
    false,
  ],
  [
    'a sub-CA below a node CA (pathlen 0)',
    async (p) => {
      const ca = await node1Ca(p)
      const sub = await forge({
        issuerCertPem: ca.cert,
        issuerKeyPem: ca.key,
        subject: 'CN=sub CA',
        ca: true,
        keyUsage: x509.KeyUsageFlags.keyCertSign,
        eku: null,
      })
      const l = await forge({ issuerCertPem: sub.certPem, issuerKeyPem: sub.keyPem, uris: [W1], ips: ip })
      return { chain: l.certPem + sub.certPem + ca.cert }
    },
    'path_length_exceeded',
    true,
  ],
  [
    'an intermediate without the CA flag',
    async (p) => {
      const fake = await forge({
        issuerCertPem: p.root,
        issuerKeyPem: p.rootKey,
        subject: 'CN=not a CA',
        keyUsage: x509.KeyUsageFlags.keyCertSign,
        eku: null,
      })
      const l = await forge({ issuerCertPem: fake.certPem, issuerKeyPem: fake.keyPem, uris: [W1], ips: ip })
      return { chain: l.chainPem }
    },
    'not_a_ca',
    true,
  ],
  [
    'an unknown critical extension',
    (p) =>
      leaf(p, {
        uris: [W1],
        ips: ip,
        extraExtensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]))],
      }),
    'unsupported_critical_extension',
    true,
  ],
  [
    'an identity other than the expected one',
    async (p) => ({ chain: p.w2.chainPem, expect: { spiffeId: W1 } }),
    'unexpected_spiffe_id',
    false,
  ],
  [
    'a workload presented where a node is expected',
    async (p) => ({ chain: p.w1.chainPem, expect: { kind: 'node' } }),
    'unexpected_spiffe_id',
    false,
  ],
]

async function opensslRejects(c: Case, p: Pki, purpose?: string): Promise<boolean> {
  const dir = await mkdtemp(join(p.dir, 'ossl-'))
  const blocks = c.chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [
    c.chain,
  ]
  await writeFile(join(dir, 'leaf.pem'), blocks[0] ?? '')
  const args = ['verify', '-CAfile', join(p.dir, 'ca/root.crt')]
  if (blocks.length > 1) {
    await writeFile(join(dir, 'rest.pem'), blocks.slice(1).join(''))
    args.push('-untrusted', join(dir, 'rest.pem'))
  }
  if (purpose) args.push('-purpose', purpose)
  const r = await execa('openssl', [...args, join(dir, 'leaf.pem')], { reject: false })
  return r.exitCode !== 0
}

for (const [what, make, reason, openssl] of cases) {
  test(`verify() rejects ${what} with ${reason}${openssl ? ', and so does openssl verify' : ''}`, async (t) => {
    const c = await make(pki)
    const r = verify(c.chain, { roots: pki.root, trustDomain: c.trustDomain ?? TD }, c.expect ?? {})
    t.false(r.ok)
    if (!r.ok) {
      t.is(r.reason, reason, r.message)
      t.true(r.message.length > 10)
    }
    const purpose = c.expect?.purpose === 'server' ? 'sslserver' : undefined
    t.is(
      await opensslRejects(c, pki, purpose),
      openssl,
      'openssl verify agrees on whether the chain is valid X.509',
    )
  })
}

test('verify() accepts an issued SVID for either TLS role and reports its identity, IPs and expiry', (t) => {
  for (const purpose of ['client', 'server'] as const) {
    const r = verify(
      pki.w1.chainPem,
      { roots: pki.root, trustDomain: TD },
      { purpose, kind: 'workload', spiffeId: W1 },
    )
    t.true(r.ok, JSON.stringify(r))
    if (!r.ok) return
    t.is(r.spiffeId, W1)
    t.deepEqual(r.ips, ['10.100.1.11'])
    t.is(r.chain.length, 3)
    t.true(r.notAfter.getTime() > Date.now())
  }
})

test('verify() accepts a node certificate as a node identity signed by the root', async (t) => {
  const r = verify(
    await readFile(pki.node1.cert, 'utf8'),
    { roots: pki.root, trustDomain: TD },
    { kind: 'node' },
  )
  t.true(r.ok, JSON.stringify(r))
  if (r.ok) t.deepEqual(r.ips, ['10.99.0.11'])
})

test('verify() judges validity at the time it is asked about', (t) => {
  const later = new Date(Date.now() + 2 * HOUR)
  const r = verify(pki.w1.chainPem, { roots: pki.root, trustDomain: TD }, { at: later })
  t.false(r.ok)
  if (!r.ok) t.is(r.reason, 'expired')
})

/**
 * Strict RFC 5280 + X509-SVID validation, table-driven: for each gap issue 12 lists, the chain, the
 * reason verify() gives (or that it accepts), and what `openssl verify` says of the same chain —
 * `rejects` (default flags), `strict` (only with -x509_strict) or `accepts` (verify() is stricter).
 * The invariant checked on every row: verify() never accepts what OpenSSL rejects, in either mode.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { type VerifyReason, verify } from '../../certs/verify.js'
import { x509 } from '../../certs/x509.js'
import { dn, edits, gn, keyIdOf, ncExtension, OIDS, resign, tlv } from './craft.js'
import { type ForgeOptions, forge, forgeOnNode1, makePki, type Pki, removeDir, TD, W1 } from './helpers.js'

let pki: Pki

test.before(async () => {
  pki = await makePki()
})

test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
})

interface Case {
  /** Leaf first. */
  chain: string
  purpose?: 'server'
}
type OpenSsl = 'rejects' | 'strict' | 'accepts'

const HOUR = 3_600_000
const ip = ['10.100.1.11']
const CA_KU = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
const nodeCa = async () => ({
  cert: await readFile(pki.node1.caCert, 'utf8'),
  key: await readFile(pki.node1.caKey, 'utf8'),
})
const underRoot = (o: Partial<ForgeOptions>) =>
  forge({
    issuerCertPem: pki.root,
    issuerKeyPem: pki.rootKey,
    subject: 'CN=strict CA, O=lab.latch',
    ca: true,
    pathLength: 0,
    keyUsage: CA_KU,
    eku: null,
    constraints: { cidrs: ['10.100.1.0/24'], uris: [TD] },
    ...o,
  })
/** A leaf (W1, 10.100.1.11) under a CA forged under the root with `ca` options. */
async function leafUnder(ca: Partial<ForgeOptions>, leaf: Partial<ForgeOptions> = {}): Promise<Case> {
  const c = await underRoot(ca)
  const l = await forge({ issuerCertPem: c.certPem, issuerKeyPem: c.keyPem, uris: [W1], ips: ip, ...leaf })
  return { chain: l.certPem + c.certPem }
}
const ipNc = gn.ip(10, 100, 1, 0, 255, 255, 255, 0)
const tdNc = gn.uri(TD)

const cases: Array<[string, () => Promise<Case>, VerifyReason | 'ok', OpenSsl]> = [
  // key identifiers (RFC 5280 §4.2.1.1, §4.2.1.2)
  [
    'a leaf without an authorityKeyIdentifier',
    async () => ({ chain: (await forgeOnNode1(pki, { uris: [W1], ips: ip, noAki: true })).chainPem }),
    'missing_key_identifier',
    'strict',
  ],
  [
    'an intermediate without an authorityKeyIdentifier',
    () => leafUnder({ noAki: true }),
    'missing_key_identifier',
    'strict',
  ],
  [
    'an intermediate without a subjectKeyIdentifier',
    async () => {
      const c = await underRoot({ noSki: true })
      const aki = new x509.AuthorityKeyIdentifierExtension(await keyIdOf(c.keyPem))
      const l = await forge({
        issuerCertPem: c.certPem,
        issuerKeyPem: c.keyPem,
        uris: [W1],
        ips: ip,
        extraExtensions: [aki],
      })
      return { chain: l.certPem + c.certPem }
    },
    'missing_key_identifier',
    'strict',
  ],
  // malformed name constraints
  [
    'an IPv4 name constraint of 5 octets',
    () =>
      leafUnder({
        constraints: undefined,
        extraExtensions: [ncExtension([gn.ip(10, 100, 1, 0, 255), tdNc])],
      }),
    'malformed_name_constraints',
    'rejects',
  ],
  [
    'an IP name constraint with a non-contiguous mask',
    () =>
      leafUnder({
        constraints: undefined,
        extraExtensions: [ncExtension([gn.ip(10, 0, 1, 0, 255, 0, 255, 0), tdNc])],
      }),
    'malformed_name_constraints',
    'accepts',
  ],
  [
    'a DNS name constraint that is not a domain ("*.example.org")',
    () =>
      leafUnder({
        constraints: undefined,
        extraExtensions: [ncExtension([ipNc, tdNc, gn.dns('*.example.org')])],
      }),
    'malformed_name_constraints',
    'accepts',
  ],
  [
    'a DNS name constraint that is not a domain, with a DNS name to check',
    async () => {
      const c = await underRoot({
        constraints: undefined,
        extraExtensions: [ncExtension([ipNc, tdNc, gn.dns('*.example.org')])],
      })
      const san = new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: W1 },
        { type: 'ip', value: '10.100.1.11' },
        { type: 'dns', value: 'a.example.org' },
      ])
      const l = await forge({ issuerCertPem: c.certPem, issuerKeyPem: c.keyPem, extraExtensions: [san] })
      return { chain: l.certPem + c.certPem }
    },
    'malformed_name_constraints',
    'rejects',
  ],
  [
    'a subtree with a maximum (RFC 5280: MUST be absent)',
    () =>
      leafUnder({
        constraints: undefined,
        extraExtensions: [
          ncExtension([ipNc, tdNc], [], { subtree: (b) => tlv(0x30, b, tlv(0x81, Buffer.from([4]))) }),
        ],
      }),
    'malformed_name_constraints',
    'rejects',
  ],
  [
    'name constraints that are not critical',
    () =>
      leafUnder({
        constraints: undefined,
        extraExtensions: [ncExtension([ipNc, tdNc], [], { critical: false })],
      }),
    'malformed_name_constraints',
    'accepts',
  ],
  [
    'name constraints on the leaf (end-entity) certificate',
    async () => ({
      chain: (await forgeOnNode1(pki, { uris: [W1], ips: ip, extraExtensions: [ncExtension([tdNc])] }))
        .chainPem,
    }),
    'name_constraints_on_leaf',
    'accepts',
  ],
  // basic constraints, subjects, serials, times
  [
    'a CA whose basicConstraints are not critical',
    () => leafUnder({ basicConstraintsCritical: false }),
    'basic_constraints_not_critical',
    'strict',
  ],
  [
    'a leaf with an empty subject and a non-critical SAN',
    async () => {
      const ca = await nodeCa()
      const l = await forgeOnNode1(pki, { uris: [W1], ips: ip })
      return { chain: resign(l.certPem, ca.key, edits.emptySubject) + ca.cert }
    },
    'empty_subject',
    'strict',
  ],
  ...(
    [
      ['zero', '00'],
      ['negative', 'ff01'],
      ['21 octets long', `01${'ab'.repeat(20)}`],
    ] as const
  ).map(([what, hex]): [string, () => Promise<Case>, VerifyReason, OpenSsl] => [
    `a leaf whose serial number is ${what}`,
    async () => {
      const ca = await nodeCa()
      const l = await forgeOnNode1(pki, { uris: [W1], ips: ip })
      return { chain: resign(l.certPem, ca.key, edits.serial(hex)) + ca.cert }
    },
    'bad_serial_number',
    'accepts',
  ]),
  [
    'a notAfter with a fraction of a second',
    async () => {
      const ca = await nodeCa()
      const l = await forgeOnNode1(pki, { uris: [W1], ips: ip })
      return { chain: resign(l.certPem, ca.key, edits.fractionalNotAfter) + ca.cert }
    },
    'malformed_validity',
    'rejects',
  ],
  [
    'an extension present twice',
    async () => {
      const ca = await nodeCa()
      const l = await forgeOnNode1(pki, { uris: [W1], ips: ip })
      return { chain: resign(l.certPem, ca.key, edits.duplicateExtension('2.5.29.17')) + ca.cert }
    },
    'malformed_certificate',
    'rejects',
  ],
  // self-issued intermediates (RFC 5280 §6.1.3(b), §6.1.4(l)) and directoryName constraints
  ...[true, false].map((selfIssued): [string, () => Promise<Case>, VerifyReason | 'ok', OpenSsl] => [
    selfIssued
      ? 'a self-issued intermediate below a pathlen-0 CA whose directoryName constraint excludes its subject'
      : 'a second, not self-issued, intermediate below a pathlen-0 CA',
    async () => {
      const p = await underRoot({
        subject: 'CN=P',
        constraints: undefined,
        extraExtensions: [ncExtension([ipNc, tdNc, gn.dir(dn([OIDS.O, TD]))])],
      })
      const s = await forge({
        issuerCertPem: p.certPem,
        issuerKeyPem: p.keyPem,
        subject: selfIssued ? 'CN=P' : 'O=lab.latch, CN=S',
        ca: true,
        keyUsage: CA_KU,
        eku: null,
      })
      const l = await forge({
        issuerCertPem: s.certPem,
        issuerKeyPem: s.keyPem,
        uris: [W1],
        ips: ip,
        subject: 'O=lab.latch, CN=w1',
      })
      return { chain: l.certPem + s.certPem + p.certPem }
    },
    selfIssued ? 'ok' : 'path_length_exceeded',
    selfIssued ? 'accepts' : 'rejects',
  ]),
  [
    'an otherName constraint and a leaf that has no otherName',
    () =>
      leafUnder({
        constraints: undefined,
        extraExtensions: [
          ncExtension([
            ipNc,
            tdNc,
            gn.other([0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x14, 0x02, 0x03], 'x@lab.latch'),
          ]),
        ],
      }),
    'ok',
    'accepts',
  ],
  [
    'a directoryName constraint and a leaf whose subject is inside it',
    () =>
      leafUnder(
        { constraints: undefined, extraExtensions: [ncExtension([ipNc, tdNc, gn.dir(dn([OIDS.O, TD]))])] },
        { subject: 'O=lab.latch, CN=w1' },
      ),
    'ok',
    'accepts',
  ],
  [
    'a directoryName constraint and a leaf whose subject is outside it',
    () =>
      leafUnder(
        { constraints: undefined, extraExtensions: [ncExtension([ipNc, tdNc, gn.dir(dn([OIDS.O, TD]))])] },
        { subject: 'O=elsewhere, CN=w1' },
      ),
    'name_constraint_violation',
    'rejects',
  ],
  // path building
  [
    'two candidate issuers of which the first given is expired (backtracking)',
    async () => {
      const ca = await nodeCa()
      const [subject] = [new x509.X509Certificate(ca.cert).subject]
      const again = (o: Partial<ForgeOptions>) =>
        underRoot({ subject, keyPem: ca.key, constraints: { cidrs: ['10.100.1.0/24'], uris: [TD] }, ...o })
      const expired = await again({
        notBefore: new Date(Date.now() - 2 * HOUR),
        notAfter: new Date(Date.now() - HOUR),
      })
      const valid = await again({})
      return { chain: pki.w1.certPem + expired.certPem + valid.certPem }
    },
    'ok',
    'accepts',
  ],
  [
    'an issuing CA without keyCertSign (named, not hidden behind unknown_issuer)',
    () => leafUnder({ keyUsage: x509.KeyUsageFlags.cRLSign }),
    'wrong_key_usage',
    'rejects',
  ],
  // bounded work, EKU
  [
    'more name × constraint comparisons than the bound',
    () =>
      leafUnder(
        {
          constraints: undefined,
          extraExtensions: [ncExtension([...Array.from({ length: 300 }, () => ipNc), tdNc])],
        },
        { ips: Array.from({ length: 250 }, (_, i) => `10.100.1.${i + 1}`) },
      ),
    'name_constraints_too_complex',
    'accepts',
  ],
  [
    'a leaf without extendedKeyUsage used as a TLS server (the X509-SVID spec only says SHOULD)',
    async () => ({
      chain: (await forgeOnNode1(pki, { uris: [W1], ips: ip, eku: null })).chainPem,
      purpose: 'server',
    }),
    'ok',
    'accepts',
  ],
]

async function openssl(c: Case, strict: boolean): Promise<boolean> {
  const dir = await mkdtemp(join(pki.dir, 'ossl-'))
  const blocks = c.chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []
  await writeFile(join(dir, 'leaf.pem'), blocks[0] ?? '')
  const args = ['verify', '-CAfile', join(pki.dir, 'ca/root.crt')]
  if (blocks.length > 1) {
    await writeFile(join(dir, 'rest.pem'), blocks.slice(1).join(''))
    args.push('-untrusted', join(dir, 'rest.pem'))
  }
  if (strict) args.push('-x509_strict')
  if (c.purpose === 'server') args.push('-purpose', 'sslserver')
  const r = await execa('openssl', [...args, join(dir, 'leaf.pem')], { reject: false })
  return r.exitCode === 0
}

for (const [what, make, want, ossl] of cases) {
  const says = {
    rejects: 'openssl verify rejects it',
    strict: 'openssl verify -x509_strict rejects it',
    accepts: 'openssl verify accepts it',
  }
  test(`${want === 'ok' ? 'verify() accepts' : `verify() refuses with ${want}`} ${what}; ${says[ossl]}`, async (t) => {
    const c = await make()
    const r = verify(c.chain, { roots: pki.root, trustDomain: TD }, c.purpose ? { purpose: c.purpose } : {})
    if (want === 'ok') t.true(r.ok, JSON.stringify(r))
    else {
      t.false(r.ok)
      if (!r.ok) t.is(r.reason, want, r.message)
    }
    const plain = await openssl(c, false)
    const strict = await openssl(c, true)
    t.is(plain, ossl !== 'rejects', 'openssl verify')
    t.is(strict, ossl === 'accepts', 'openssl verify -x509_strict')
    if (r.ok) t.true(plain && strict, 'verify() accepted what OpenSSL rejects')
  })
}

test('everything latch issues passes openssl verify -x509_strict and verify()', async (t) => {
  const dir = await mkdtemp(join(pki.dir, 'ossl-'))
  await writeFile(join(dir, 'leaf.pem'), pki.w1.certPem)
  const r = await execa(
    'openssl',
    [
      'verify',
      '-x509_strict',
      '-CAfile',
      join(pki.dir, 'ca/root.crt'),
      '-untrusted',
      pki.node1.caCert,
      join(dir, 'leaf.pem'),
    ],
    { reject: false },
  )
  t.is(r.exitCode, 0, r.stderr)
  t.true(verify(pki.w1.chainPem, { roots: pki.root, trustDomain: TD }).ok)
  const node = verify(
    await readFile(pki.node1.cert, 'utf8'),
    { roots: pki.root, trustDomain: TD },
    { kind: 'node' },
  )
  t.true(node.ok, JSON.stringify(node))
})

test('a revocation check refuses a validated chain with revoked and names the certificate', (t) => {
  const r = verify(pki.w1.chainPem, {
    roots: pki.root,
    trustDomain: TD,
    revocations: { revoked: (c) => (c.spiffeId === W1 ? 'listed by SPIFFE ID' : undefined) },
  })
  t.false(r.ok)
  if (!r.ok) {
    t.is(r.reason, 'revoked')
    t.is(r.depth, 0)
  }
})

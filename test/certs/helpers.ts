/**
 * Test helpers for the certs tests: a fresh PKI per test (made by test/pki.ts) as files, a digest of
 * a directory (to prove a failed command changed nothing), and a forger that signs arbitrary certificates directly with a CA key,
 * bypassing every issue-time check, to produce the bad certificates verification must reject.
 */
import { createHash, createPublicKey, webcrypto, X509Certificate } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKey, keyObjectFromPem, signingKeyFromPem } from '../../certs/keys.js'
import type { nodePaths } from '../../certs/layout.js'
import { nameConstraintsExtension } from '../../certs/name-constraints.js'
import { parseCertificates, signCertificate, toPem, type X509Key, x509 } from '../../certs/x509.js'
import { removeDir, TestPki, tempDir } from '../pki.js'

export const TD = 'lab.latch'
export const W1 = `spiffe://${TD}/ns/lab/sa/node1-w1`
export const W2 = `spiffe://${TD}/ns/lab/sa/node1-w2`

export { removeDir, tempDir }

/** The DER bytes of each certificate of a PEM chain, in order (what a TLS peer hands over). */
export const chainDer = (pem: string) =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (b) => new X509Certificate(b).raw,
  )

export interface Pki {
  dir: string
  root: string
  rootKey: string
  node1: ReturnType<typeof nodePaths>
  /** Two workloads of node1, with their chains and keys. */
  w1: { certPem: string; keyPem: string; chainPem: string }
  w2: { certPem: string; keyPem: string; chainPem: string }
}

/** CA (lab.latch) + node1 (10.100.1.0/24) + node2 (10.100.2.0/24) + two SVIDs on node1, as files. */
export async function makePki(dir?: string, trustDomain = TD): Promise<Pki> {
  const pki = await TestPki.create({
    trustDomain,
    dir: dir ?? (await tempDir('latch-pki-test-')),
    nodes: [
      { name: 'node1', ip: '10.99.0.11', cidrs: ['10.100.1.0/24'] },
      { name: 'node2', ip: '10.99.0.12', cidrs: ['10.100.2.0/24'] },
    ],
  })
  const w1 = await pki.workloadFiles('node1', `spiffe://${trustDomain}/ns/lab/sa/node1-w1`, ['10.100.1.11'])
  const w2 = await pki.workloadFiles('node1', `spiffe://${trustDomain}/ns/lab/sa/node1-w2`, ['10.100.1.12'])
  return {
    dir: pki.dir,
    root: pki.rootPem,
    rootKey: await pki.rootKeyPem(),
    node1: pki.node('node1').paths,
    w1,
    w2,
  }
}

/** sha256 over every path, mode and content under `dir` (missing dir = a fixed value). */
export async function hashDir(dir: string): Promise<string> {
  const h = createHash('sha256')
  const walk = async (d: string, rel: string): Promise<void> => {
    let entries: string[]
    try {
      entries = (await readdir(d)).sort()
    } catch {
      h.update(`missing ${rel}\n`)
      return
    }
    for (const name of entries) {
      const p = join(d, name)
      const s = await stat(p)
      h.update(`${rel}/${name} ${s.mode.toString(8)}\n`)
      if (s.isDirectory()) await walk(p, `${rel}/${name}`)
      else h.update(await readFile(p))
    }
  }
  await walk(dir, '')
  return h.digest('hex')
}

export interface ForgeOptions {
  /** Issuer certificate and key PEMs (default: node1's intermediate). */
  issuerCertPem: string
  issuerKeyPem: string
  uris?: string[]
  ips?: string[]
  notBefore?: Date
  notAfter?: Date
  keyUsage?: number
  eku?: string[] | null
  ca?: boolean
  pathLength?: number
  /** Name constraints (permitted CIDRs, URI hosts) when forging a CA. */
  constraints?: { cidrs: string[]; uris: string[] }
  subject?: string
  extraExtensions?: x509.Extension[]
  /** The subject's key (default: a new one); reusing a key makes a re-issued or cross certificate. */
  keyPem?: string
  /** Leave out the subjectKeyIdentifier / authorityKeyIdentifier. */
  noSki?: boolean
  noAki?: boolean
  /** basicConstraints criticality (default critical). */
  basicConstraintsCritical?: boolean
}

export interface Forged {
  certPem: string
  keyPem: string
  /** Leaf + issuer. */
  chainPem: string
}

async function keyPairOf(keyPem: string) {
  const privateKey = await signingKeyFromPem(keyPem)
  const spki = createPublicKey(keyObjectFromPem(keyPem)).export({ type: 'spki', format: 'der' })
  const publicKey = await webcrypto.subtle.importKey(
    'spki',
    spki,
    { name: 'ECDSA', namedCurve: 'P-256' },
    true,
    ['verify'],
  )
  return { keys: { privateKey, publicKey }, pem: keyPem }
}

function akiOf(issuer: x509.X509Certificate): x509.Extension[] {
  const ski = issuer.getExtension(x509.SubjectKeyIdentifierExtension)
  return ski === null ? [] : [new x509.AuthorityKeyIdentifierExtension(ski.keyId)]
}

/** Sign whatever `o` says with the issuer's key. No check of any kind: this is how attackers' certs look. */
export async function forge(o: ForgeOptions): Promise<Forged> {
  const [issuer] = parseCertificates(o.issuerCertPem)
  const signingKey = await signingKeyFromPem(o.issuerKeyPem)
  const { keys, pem } = o.keyPem === undefined ? await generateKey() : await keyPairOf(o.keyPem)
  const now = Date.now()
  const names = [
    ...(o.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  const eku =
    o.eku === undefined ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : o.eku
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.ca ?? false, o.pathLength, o.basicConstraintsCritical ?? true),
    new x509.KeyUsagesExtension(o.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
    ...(eku === null ? [] : [new x509.ExtendedKeyUsageExtension(eku)]),
    ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ...(o.constraints ? [nameConstraintsExtension(o.constraints.cidrs, o.constraints.uris)] : []),
    ...(o.noSki
      ? []
      : [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as X509Key)]),
    ...(o.noAki ? [] : akiOf(issuer as x509.X509Certificate)),
    ...(o.extraExtensions ?? []),
  ]
  const cert = await signCertificate({
    subject: o.subject ?? 'CN=forged, O=lab.latch',
    issuer: (issuer as x509.X509Certificate).subject,
    publicKey: keys.publicKey,
    signingKey,
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + 3_600_000),
    extensions,
  })
  return { certPem: toPem(cert), keyPem: pem, chainPem: toPem(cert) + o.issuerCertPem }
}

/** forge() with node1's intermediate of `pki` as the issuer. */
export async function forgeOnNode1(
  pki: Pki,
  o: Omit<ForgeOptions, 'issuerCertPem' | 'issuerKeyPem'>,
): Promise<Forged> {
  return forge({
    issuerCertPem: await readFile(pki.node1.caCert, 'utf8'),
    issuerKeyPem: await readFile(pki.node1.caKey, 'utf8'),
    ...o,
  })
}

/**
 * A PKI for an etcd cluster that latch discovery uses, apart from the mesh's trust domain: its own CA,
 * one certificate per member (server + client auth, SAN = the member's IP and name — and the IPs its
 * peers dial from when they share its netns, see peerSourceIps —, also used for
 * peer TLS between members) and one client certificate per latchd (CN = the node name). etcd runs
 * with --client-cert-auth against this CA, so only holders of a client certificate can read or write
 * registrations. Layout under `dir`: ca.{crt,key}, members/<name>.{crt,key}, clients/<node>.{crt,key}.
 * `ensureEtcdPki` issues what is missing and keeps what exists (the lab calls it on every `up`).
 */
import type { webcrypto } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LIFETIME } from './defaults.js'
import { commitFiles, exists, KEY_MODE, PUBLIC_MODE } from './files.js'
import { generateKey, signingKeyFromPem } from './keys.js'
import { rootExtensions } from './profiles.js'
import { validityWindow } from './validity.js'
import { dnValue, parseCertificates, signCertificate, toPem, x509 } from './x509.js'

export interface EtcdPkiPaths {
  caCert: string
  caKey: string
  member(name: string): { cert: string; key: string }
  client(node: string): { cert: string; key: string }
}

export function etcdPkiPaths(dir: string): EtcdPkiPaths {
  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    member: (name) => ({
      cert: join(dir, 'members', `${name}.crt`),
      key: join(dir, 'members', `${name}.key`),
    }),
    client: (node) => ({
      cert: join(dir, 'clients', `${node}.crt`),
      key: join(dir, 'clients', `${node}.key`),
    }),
  }
}

export interface EnsureEtcdPkiOptions {
  dir: string
  /**
   * `peerSourceIps`: further addresses the member's certificate names, for members that share one
   * network namespace (the lab): a connection to a local address leaves from that same address, so a
   * member dialing a peer shows up with the PEER's IP, and etcd, which checks a peer's client
   * certificate against the address it connects from, refuses it unless the certificate names it.
   */
  members: ReadonlyArray<{ name: string; ip: string; peerSourceIps?: readonly string[] }>
  clients: readonly string[]
  now?: Date
}

interface Ca {
  cert: x509.X509Certificate
  key: webcrypto.CryptoKey
}

async function ensureCa(p: EtcdPkiPaths, now?: Date): Promise<{ ca: Ca; files: string[] }> {
  if ((await exists(p.caCert)) && (await exists(p.caKey))) {
    const [cert] = parseCertificates(await readFile(p.caCert, 'utf8'), p.caCert)
    const key = await signingKeyFromPem(await readFile(p.caKey, 'utf8'), p.caKey)
    if (cert) return { ca: { cert, key }, files: [] }
  }
  const { keys, pem } = await generateKey()
  const name = `CN=${dnValue('latch etcd CA')}`
  const cert = await signCertificate({
    subject: name,
    issuer: name,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    ...validityWindow(LIFETIME.root, now),
    extensions: await rootExtensions(keys.publicKey),
  })
  const files = await commitFiles([
    { path: p.caCert, data: toPem(cert), mode: PUBLIC_MODE },
    { path: p.caKey, data: pem, mode: KEY_MODE },
  ])
  return { ca: { cert, key: keys.privateKey }, files }
}

async function issueLeaf(
  ca: Ca,
  out: { cert: string; key: string },
  cn: string,
  usages: x509.ExtendedKeyUsage[],
  sans: x509.JsonGeneralName[],
  now?: Date,
): Promise<string[]> {
  if ((await exists(out.cert)) && (await exists(out.key))) return []
  const { keys, pem } = await generateKey()
  const cert = await signCertificate({
    subject: `CN=${dnValue(cn)}`,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    ...validityWindow(LIFETIME.node, now, ca.cert.notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  })
  return commitFiles([
    { path: out.cert, data: toPem(cert), mode: PUBLIC_MODE },
    { path: out.key, data: pem, mode: KEY_MODE },
  ])
}

/** Issue the CA, member and client certificates that do not exist yet; returns the files written. */
export async function ensureEtcdPki(o: EnsureEtcdPkiOptions): Promise<string[]> {
  const p = etcdPkiPaths(o.dir)
  const { ca, files } = await ensureCa(p, o.now)
  const EKU = x509.ExtendedKeyUsage
  for (const m of o.members) {
    const sans: x509.JsonGeneralName[] = [
      { type: 'ip', value: m.ip },
      ...(m.peerSourceIps ?? [])
        .filter((ip) => ip !== m.ip)
        .map((ip): x509.JsonGeneralName => ({ type: 'ip', value: ip })),
      { type: 'dns', value: m.name },
    ]
    files.push(
      ...(await issueLeaf(ca, p.member(m.name), m.name, [EKU.serverAuth, EKU.clientAuth], sans, o.now)),
    )
  }
  for (const node of o.clients) {
    files.push(...(await issueLeaf(ca, p.client(node), node, [EKU.clientAuth], [], o.now)))
  }
  return files
}

/**
 * The PKI material latchd runs with — trust bundle (one or more roots), node certificate and key,
 * node intermediate and its key, revocation list — and the check a new set must pass before it
 * replaces the running one (hot reload). Pure: file contents in, verdict out.
 *
 * A new set is taken only whole and only when all of it is usable: every file readable, the bundle
 * parses, the node certificate verifies against the new bundle as this node's identity and carries
 * the listen address, the key belongs to it, the intermediate is this node's, chains to a root of the
 * bundle, is valid now, covers workloadCidrs and matches its key, and the revocation list parses.
 * Otherwise the problems are returned and the caller keeps what it runs.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { cidrsWithin, intermediateNamesNode, readNameConstraints, verify } from '../../certs/index.js'
import { CERT_BLOCK } from '../../certs/x509.js'
import { nodeSpiffeId } from '../base/spiffe-id.js'
import { NO_REVOCATIONS, parseRevocations, type RevocationList } from './revocation.js'

export interface TrustFiles {
  caFile: string
  certFile: string
  keyFile: string
  intermediateCertFile: string
  intermediateKeyFile: string
  revocationFile?: string | undefined
}

export interface TrustMaterial {
  rootPem: string
  certPem: string
  /** Secret. */
  keyPem: string
  intermediatePem: string
  revocations: RevocationList
}

export interface TrustNode {
  node: string
  trustDomain: string
  listenAddress: string
  workloadCidrs: readonly string[]
}

export type MaterialVerdict = { ok: true; material: TrustMaterial } | { ok: false; problems: string[] }

export function trustFileList(f: TrustFiles): string[] {
  return [
    f.caFile,
    f.certFile,
    f.keyFile,
    f.intermediateCertFile,
    f.intermediateKeyFile,
    ...(f.revocationFile ? [f.revocationFile] : []),
  ]
}

function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))
  } catch {
    return false
  }
}

/** Check a candidate set of PKI files (contents by path; undefined = unreadable). */
export function checkMaterial(
  n: TrustNode,
  files: TrustFiles,
  contents: ReadonlyMap<string, Buffer | undefined>,
  now: Date = new Date(),
): MaterialVerdict {
  const problems: string[] = []
  const text = (file: string): string => {
    const c = contents.get(file)
    if (c === undefined) problems.push(`${file} cannot be read`)
    return c?.toString('utf8') ?? ''
  }
  const rootPem = text(files.caFile)
  const certPem = text(files.certFile)
  const keyPem = text(files.keyFile)
  const intermediatePem = text(files.intermediateCertFile)
  const intermediateKeyPem = text(files.intermediateKeyFile)
  const revocationText = files.revocationFile === undefined ? undefined : text(files.revocationFile)
  if (problems.length > 0) return { ok: false, problems }

  let roots: X509Certificate[] = []
  try {
    roots = (rootPem.match(CERT_BLOCK) ?? []).map((b) => new X509Certificate(b))
  } catch (err) {
    problems.push(`${files.caFile}: a certificate does not parse (${(err as Error).message})`)
  }
  if (roots.length === 0 && problems.length === 0) problems.push(`${files.caFile} holds no certificate`)
  const notCa = roots.filter((r) => !r.ca)
  if (notCa.length > 0)
    problems.push(`${files.caFile}: "${notCa[0]?.subject.replace(/\n/g, ', ')}" is not a CA`)

  const expected = nodeSpiffeId(n.trustDomain, n.node).toString()
  const v = verify(
    certPem,
    { roots: rootPem, trustDomain: n.trustDomain },
    { kind: 'node', spiffeId: expected, at: now },
  )
  if (!v.ok)
    problems.push(`${files.certFile} does not verify against ${files.caFile}: ${v.reason}: ${v.message}`)
  else if (!v.ips.includes(n.listenAddress))
    problems.push(`${files.certFile} does not carry the listen address ${n.listenAddress}`)
  if (!keyMatches(certPem, keyPem)) problems.push(`${files.keyFile} is not the key of ${files.certFile}`)

  try {
    const inter = new X509Certificate(intermediatePem)
    if (!intermediateNamesNode(inter, n.node, n.trustDomain)) {
      problems.push(`${files.intermediateCertFile} is not node ${n.node}'s intermediate CA`)
    }
    if (!roots.some((r) => inter.checkIssued(r) && inter.verify(r.publicKey))) {
      problems.push(`${files.intermediateCertFile} was not issued by a root of ${files.caFile}`)
    }
    if (now < new Date(inter.validFrom) || now > new Date(inter.validTo)) {
      problems.push(`${files.intermediateCertFile} is not valid now (${inter.validFrom} – ${inter.validTo})`)
    }
    const outside = cidrsWithin([...n.workloadCidrs], readNameConstraints(intermediatePem).permittedCidrs)
    if (outside.length > 0) {
      problems.push(
        `workloadCidrs ${outside.join(', ')} are outside the name constraints of ${files.intermediateCertFile}`,
      )
    }
    if (!keyMatches(intermediatePem, intermediateKeyPem)) {
      problems.push(`${files.intermediateKeyFile} is not the key of ${files.intermediateCertFile}`)
    }
  } catch (err) {
    problems.push(`${files.intermediateCertFile}: ${(err as Error).message}`)
  }

  let revocations = NO_REVOCATIONS
  if (revocationText !== undefined && files.revocationFile !== undefined) {
    try {
      revocations = parseRevocations(revocationText, files.revocationFile, n.trustDomain)
    } catch (err) {
      problems.push((err as Error).message)
    }
  }
  if (problems.length > 0) return { ok: false, problems }
  return { ok: true, material: { rootPem, certPem, keyPem, intermediatePem, revocations } }
}

export interface CredentialExpiry {
  kind: 'root' | 'intermediate' | 'node'
  subject: string
  serial: string
  notBefore: Date
  notAfter: Date
}

/** When each credential of `m` expires (every root of the bundle, the intermediate, the node certificate). */
export function expiries(m: TrustMaterial): CredentialExpiry[] {
  const one = (kind: CredentialExpiry['kind'], pem: string): CredentialExpiry => {
    const c = new X509Certificate(pem)
    return {
      kind,
      subject: c.subject.replace(/\n/g, ', '),
      serial: c.serialNumber.toLowerCase(),
      notBefore: new Date(c.validFrom),
      notAfter: new Date(c.validTo),
    }
  }
  return [
    ...(m.rootPem.match(CERT_BLOCK) ?? []).map((b) => one('root', b)),
    one('intermediate', m.intermediatePem),
    one('node', (m.certPem.match(CERT_BLOCK) ?? [m.certPem])[0] as string),
  ]
}

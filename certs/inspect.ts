/**
 * `latchctl identity inspect`: what a certificate file says (identity, IPs, chain, validity) and whether
 * it verifies against the CA of a PKI directory. Intermediates of every node in that directory are
 * offered to path building, so a bare svid.crt verifies as well as a chain.pem.
 */
import { readdir } from 'node:fs/promises'
import { formatDuration } from '../daemon/base/duration.js'
import { exists } from './files.js'
import { caPaths, nodePaths, nodesDir } from './layout.js'
import { parseNameConstraints } from './name-constraints.js'
import { readTrustDomain } from './state.js'
import { type VerifyReason, verify } from './verify.js'
import { loadCertificates, loadPem, x509 } from './x509.js'

export interface CertSummary {
  subject: string
  issuer: string
  serial: string
  notBefore: string
  notAfter: string
  isCa: boolean
  uris: string[]
  ips: string[]
  keyUsage: string[]
  extKeyUsage: string[]
  /** For a constrained CA: its permitted IP ranges and URI hosts. */
  nameConstraints?: { permittedCidrs: string[]; permittedUris: string[] }
}

export type InspectVerification =
  | { ok: true; spiffeId: string; notAfter: string; path: string[]; ca: string; trustDomain: string }
  | { ok: false; reason: VerifyReason; message: string; ca: string; trustDomain: string }
  | { ok: false; reason: 'no_ca'; message: string; ca: string }

export interface InspectReport {
  file: string
  spiffeId: string | null
  ips: string[]
  notBefore: string
  notAfter: string
  /** Every certificate in the file, leaf first. */
  certificates: CertSummary[]
  verification: InspectVerification
}

const KEY_USAGE_NAMES = Object.entries(x509.KeyUsageFlags).filter(([, v]) => typeof v === 'number') as [
  string,
  number,
][]
const EKU_NAMES = new Map<string, string>(Object.entries(x509.ExtendedKeyUsage).map(([k, v]) => [v, k]))

function summarize(c: x509.X509Certificate): CertSummary {
  const names = c.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []
  const ku = c.getExtension(x509.KeyUsagesExtension)?.usages ?? 0
  const eku = c.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []
  const nc = parseNameConstraints(c)
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    isCa: c.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    uris: names.filter((n) => n.type === 'url').map((n) => n.value),
    ips: names.filter((n) => n.type === 'ip').map((n) => n.value),
    keyUsage: KEY_USAGE_NAMES.filter(([, bit]) => (ku & bit) !== 0).map(([name]) => name),
    extKeyUsage: eku.map((u) => EKU_NAMES.get(String(u)) ?? String(u)),
    ...(nc === undefined
      ? {}
      : { nameConstraints: { permittedCidrs: nc.permittedCidrs, permittedUris: nc.permittedUris } }),
  }
}

/** The intermediates of every node in `dir` (PEM text), for path building. */
async function nodeIntermediates(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(nodesDir(dir))
  } catch {
    return []
  }
  const out: string[] = []
  for (const name of names) {
    try {
      const file = nodePaths(dir, name).caCert
      if (await exists(file)) out.push(await loadPem(file))
    } catch {
      // not a node directory, or a damaged intermediate: it simply is not offered
    }
  }
  return out
}

export async function inspectCertificate(options: {
  file: string
  dir: string
  at?: Date
}): Promise<InspectReport> {
  const certs = await loadCertificates(options.file)
  const summaries = certs.map(summarize)
  const leaf = summaries[0] as CertSummary
  const ca = caPaths(options.dir).cert
  let verification: InspectVerification
  let trustDomain: string | undefined
  try {
    trustDomain = await readTrustDomain(options.dir)
  } catch {
    trustDomain = undefined
  }
  if (trustDomain === undefined) {
    verification = { ok: false, reason: 'no_ca', message: `no CA in ${options.dir}`, ca }
  } else {
    const chain = [...certs, ...(await nodeIntermediates(options.dir))]
    const r = verify(chain, { roots: await loadPem(ca), trustDomain }, options.at ? { at: options.at } : {})
    verification = r.ok
      ? {
          ok: true,
          spiffeId: r.spiffeId,
          notAfter: r.notAfter.toISOString(),
          path: r.chain.map((c) => c.subject.replace(/\n/g, ', ')),
          ca,
          trustDomain,
        }
      : { ok: false, reason: r.reason, message: r.message, ca, trustDomain }
  }
  return {
    file: options.file,
    spiffeId: leaf.uris.length === 1 ? (leaf.uris[0] as string) : null,
    ips: leaf.ips,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    certificates: summaries,
    verification,
  }
}

/** The report as aligned text for a terminal. */
export function formatInspectReport(r: InspectReport, now: Date = new Date()): string {
  const leaf = r.certificates[0] as CertSummary
  const left = new Date(r.notAfter).getTime() - now.getTime()
  const lines: Array<[string, string]> = [
    ['file', r.file],
    ['spiffe id', r.spiffeId ?? `(none: ${leaf.uris.length} URI SANs)`],
    ['ips', r.ips.join(', ') || '(none)'],
    ['subject', leaf.subject],
    ['serial', leaf.serial],
    [
      'valid',
      `${r.notBefore} → ${r.notAfter} (${left > 0 ? `expires in ${formatDuration(left)}` : 'EXPIRED'})`,
    ],
    ['key usage', [...leaf.keyUsage, ...leaf.extKeyUsage].join(', ') || '(none)'],
  ]
  r.certificates.forEach((c, i) => {
    const nc = c.nameConstraints
    const extra = nc
      ? ` [permits ${[...nc.permittedCidrs, ...nc.permittedUris.map((u) => `URI ${u}`)].join(', ')}]`
      : ''
    lines.push([i === 0 ? 'chain' : '', `[${i}] ${c.subject}${c.isCa ? ' (CA)' : ''} ← ${c.issuer}${extra}`])
  })
  const v = r.verification
  lines.push([
    'verified',
    v.ok
      ? `ok: ${v.spiffeId} against ${v.ca} (trust domain ${v.trustDomain}), good until ${v.notAfter}`
      : `FAILED (${v.reason}): ${v.message}`,
  ])
  return `${lines.map(([k, val]) => `${k ? `${k}:` : ''}`.padEnd(12) + val).join('\n')}\n`
}

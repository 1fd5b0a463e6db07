/**
 * Workload SVIDs: an X.509 certificate whose one URI SAN is the workload's SPIFFE ID and whose IP SANs
 * are its addresses, signed by the intermediate CA of the node that hosts it.
 *
 * issueWorkloadFromIntermediate is the core (no file I/O): latchd calls it to renew SVIDs from the
 * intermediate it holds. issueWorkload is `latchctl identity issue`: it reads the PKI dir and writes
 * svid.crt, svid.key and chain.pem.
 */

import { durationWithin } from '../daemon/base/duration.js'
import { LatchError } from '../daemon/base/errors.js'
import { nodeNameOf, parseSpiffeId, type SpiffeId } from '../daemon/base/spiffe-id.js'
import { LIFETIME } from './defaults.js'
import { commitFiles, KEY_MODE, PUBLIC_MODE } from './files.js'
import { generateKey, readPrivateKey, signingKeyFromPem } from './keys.js'
import { workloadPaths } from './layout.js'
import { nameConstraintViolation, parseNameConstraints } from './name-constraints.js'
import { uniqueIps } from './net.js'
import { leafExtensions } from './profiles.js'
import { loadCa, readNodeInfo } from './state.js'
import { validityWindow } from './validity.js'
import { dnValue, loadPem, parseCertificates, signCertificate, toPem, type x509 } from './x509.js'

export interface IssueFromIntermediateOptions {
  intermediateCertPem: string
  intermediateKeyPem: string
  spiffeId: string | SpiffeId
  ips: string[]
  /** Lifetime ("1h" or ms), between LIFETIME.workloadMin and LIFETIME.workloadMax. Default LIFETIME.workload. */
  ttl?: string | number
  now?: Date
}

export interface IssuedSvid {
  /** The SVID alone. */
  certPem: string
  /** Its PKCS#8 private key. */
  keyPem: string
  /** The SVID followed by the intermediate: what a TLS endpoint presents. */
  chainPem: string
  spiffeId: string
  ips: string[]
  notAfter: Date
}

/** A workload's SPIFFE ID: has a path, and never claims latch's reserved node namespace. */
export function checkWorkloadId(input: string | SpiffeId): SpiffeId {
  const id = typeof input === 'string' ? parseSpiffeId(input, { requirePath: true }) : input
  if (id.path === '') parseSpiffeId(id.toString(), { requirePath: true })
  if (id.segments[0] === 'latch' || nodeNameOf(id) !== undefined) {
    throw new LatchError(
      'LATCH_ERR_PKI_RESERVED_ID',
      `${id.toString()} is in latch's reserved /latch/ namespace (node identities); workloads cannot have it`,
      { details: { spiffeId: id.toString() } },
    )
  }
  return id
}

/**
 * Sign a new SVID with a node's intermediate. Refuses (LATCH_ERR_PKI_IP_OUTSIDE_NODE,
 * LATCH_ERR_SPIFFE_WRONG_TRUST_DOMAIN) what the intermediate's name constraints would make invalid,
 * so nothing is issued that path validation would reject.
 */
export async function issueWorkloadFromIntermediate(
  options: IssueFromIntermediateOptions,
): Promise<IssuedSvid> {
  const { id, ips, ttl } = checkSvidInputs(options)
  const [intermediate] = parseCertificates(options.intermediateCertPem, 'the intermediate certificate')
  const issuer = intermediate as x509.X509Certificate
  checkAgainstConstraints(issuer, id, ips)
  const signingKey = await signingKeyFromPem(options.intermediateKeyPem, 'the intermediate key')
  const { keys, pem } = await generateKey()
  const cert = await signCertificate({
    subject: `CN=${dnValue(id.segments.at(-1) ?? id.trustDomain)}, O=${dnValue(id.trustDomain)}`,
    issuer: issuer.subject,
    publicKey: keys.publicKey,
    signingKey,
    ...validityWindow(ttl, options.now, issuer.notAfter),
    extensions: await leafExtensions(keys.publicKey, issuer, id.toString(), ips),
  })
  return {
    certPem: toPem(cert),
    keyPem: pem,
    chainPem: toPem(cert, issuer),
    spiffeId: id.toString(),
    ips,
    notAfter: cert.notAfter,
  }
}

/** The pure checks of an SVID request, done before anything is read or written. */
function checkSvidInputs(options: { spiffeId: string | SpiffeId; ips: string[]; ttl?: string | number }) {
  const id = checkWorkloadId(options.spiffeId)
  if (options.ips.length === 0) {
    throw new LatchError('LATCH_ERR_NET_BAD_IP', 'a workload SVID needs at least one IP address (--ip)')
  }
  const ips = uniqueIps(options.ips)
  const ttl = durationWithin(
    options.ttl ?? LIFETIME.workload,
    LIFETIME.workloadMin,
    LIFETIME.workloadMax,
    'workload ttl',
  )
  return { id, ips, ttl }
}

function checkAgainstConstraints(issuer: x509.X509Certificate, id: SpiffeId, ips: string[]): void {
  const nc = parseNameConstraints(issuer)
  if (nc === undefined) {
    throw new LatchError(
      'LATCH_ERR_PKI_STATE_CORRUPT',
      `the intermediate "${issuer.subject}" has no name constraints; latch signs workloads only with a constrained node CA`,
    )
  }
  if (
    nc.permittedUris.length > 0 &&
    nameConstraintViolation({ ips: [], uris: [id.toString()], dns: [], other: [] }, nc)
  ) {
    throw new LatchError(
      'LATCH_ERR_SPIFFE_WRONG_TRUST_DOMAIN',
      `${id.toString()} is not in the trust domain this node may certify (${nc.permittedUris.join(', ')})`,
      { details: { spiffeId: id.toString(), permitted: nc.permittedUris } },
    )
  }
  for (const ip of ips) {
    const why = nameConstraintViolation({ ips: [ip], uris: [], dns: [], other: [] }, nc)
    if (why !== undefined || nc.permittedCidrs.length === 0) {
      throw new LatchError(
        'LATCH_ERR_PKI_IP_OUTSIDE_NODE',
        `IP ${ip} is outside this node's workload CIDRs (${nc.permittedCidrs.join(', ') || 'none'})`,
        { details: { ip, permitted: nc.permittedCidrs } },
      )
    }
  }
}

export interface IssueWorkloadOptions {
  dir: string
  spiffeId: string
  node: string
  ips: string[]
  ttl?: string | number
  now?: Date
}

/**
 * `latchctl identity issue`: sign an SVID with the node's intermediate and write svid.crt, svid.key (0600)
 * and chain.pem under nodes/<node>/workloads/<SPIFFE path>/. Re-issuing replaces them (renewal).
 */
export async function issueWorkload(
  options: IssueWorkloadOptions,
): Promise<{ files: string[]; certPem: string; keyPem: string; chainPem: string }> {
  const { id } = checkSvidInputs(options)
  const ca = await loadCa(options.dir)
  if (id.trustDomain !== ca.trustDomain) {
    throw new LatchError(
      'LATCH_ERR_SPIFFE_WRONG_TRUST_DOMAIN',
      `${id.toString()} is in trust domain "${id.trustDomain}", but the CA in ${options.dir} is for "${ca.trustDomain}"`,
      { details: { spiffeId: id.toString(), trustDomain: ca.trustDomain } },
    )
  }
  const { paths } = await readNodeInfo(options.dir, options.node)
  const intermediateCertPem = await loadPem(paths.caCert)
  const intermediateKeyPem = await readPrivateKey(paths.caKey)
  const svid = await issueWorkloadFromIntermediate({
    intermediateCertPem,
    intermediateKeyPem,
    spiffeId: id,
    ips: options.ips,
    ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
    ...(options.now === undefined ? {} : { now: options.now }),
  })
  const out = workloadPaths(options.dir, options.node, id)
  const files = await commitFiles([
    { path: out.cert, data: svid.certPem, mode: PUBLIC_MODE },
    { path: out.key, data: svid.keyPem, mode: KEY_MODE },
    { path: out.chain, data: svid.chainPem, mode: PUBLIC_MODE },
  ])
  return { files, certPem: svid.certPem, keyPem: svid.keyPem, chainPem: svid.chainPem }
}

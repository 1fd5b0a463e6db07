/**
 * `latchctl node issue`: a node's own certificate (for daemon-to-daemon TLS) and its intermediate CA,
 * name-constrained to the node's workload CIDRs and the trust domain, both signed by the root.
 */

import type { X509Certificate } from 'node:crypto'
import { durationWithin } from '../daemon/base/duration.js'
import { LatchError } from '../daemon/base/errors.js'
import { nodeSpiffeId } from '../daemon/base/spiffe-id.js'
import { LIFETIME } from './defaults.js'
import { commitFiles, exists, KEY_MODE, PUBLIC_MODE } from './files.js'
import { generateKey, readPrivateKey, signingKeyFromPem } from './keys.js'
import { checkNodeName, nodePaths } from './layout.js'
import { cidrInCidr, ipText, parseCidr, parseIp } from './net.js'
import { intermediateExtensions, leafExtensions } from './profiles.js'
import { listNodes, loadCa, type NodeInfo } from './state.js'
import { validityWindow } from './validity.js'
import { dnValue, signCertificate, toPem } from './x509.js'

export interface IssueNodeOptions {
  dir: string
  node: string
  /** The node's underlay address (IP SAN of the node certificate). */
  ip: string
  /** The ranges the node's workloads live in; the intermediate may sign nothing else. */
  workloadCidrs: string[]
  /** Re-issue a node that exists (its old intermediate's SVIDs stop verifying once peers see the new one). */
  force?: boolean
  /** Lifetime of the node certificate ("30d" or ms); the intermediate lives LIFETIME.intermediate. */
  ttl?: string | number
  now?: Date
  /** Renew only the node certificate or only the intermediate (the other files stay as they are). */
  only?: 'cert' | 'intermediate'
}

/** Validate the CIDR list: well-formed, at least one, no duplicates or nesting within the list. */
function checkCidrs(input: readonly string[]): string[] {
  if (input.length === 0) {
    throw new LatchError('LATCH_ERR_NET_BAD_CIDR', 'a node needs at least one --workload-cidr')
  }
  const cidrs = input.map(parseCidr)
  for (const [i, a] of cidrs.entries()) {
    for (const b of cidrs.slice(i + 1)) {
      if (cidrInCidr(a, b) || cidrInCidr(b, a)) {
        throw new LatchError('LATCH_ERR_NET_BAD_CIDR', `workload CIDRs ${a.text} and ${b.text} overlap`, {
          details: { cidrs: input },
        })
      }
    }
  }
  return cidrs.map((c) => c.text)
}

/** Two nodes must never be able to speak for the same workload IP. */
function checkNoOverlap(node: string, cidrs: readonly string[], others: readonly NodeInfo[]): void {
  for (const other of others) {
    if (other.node === node) continue
    for (const mine of cidrs.map(parseCidr)) {
      for (const theirs of other.workloadCidrs.map(parseCidr)) {
        if (cidrInCidr(mine, theirs) || cidrInCidr(theirs, mine)) {
          throw new LatchError(
            'LATCH_ERR_PKI_CIDR_OVERLAP',
            `workload CIDR ${mine.text} overlaps ${theirs.text} of node "${other.node}"`,
            { details: { node, other: other.node, cidr: mine.text, otherCidr: theirs.text } },
          )
        }
      }
    }
  }
}

export async function issueNode(options: IssueNodeOptions): Promise<{ files: string[] }> {
  const node = checkNodeName(options.node)
  const underlayIp = ipText(parseIp(options.ip))
  const workloadCidrs = checkCidrs(options.workloadCidrs)
  const nodeLifetime = durationWithin(
    options.ttl ?? LIFETIME.node,
    60_000,
    LIFETIME.root,
    'node certificate ttl',
  )
  const ca = await loadCa(options.dir)
  const paths = nodePaths(options.dir, node)
  if (!options.force && ((await exists(paths.cert)) || (await exists(paths.info)))) {
    throw new LatchError('LATCH_ERR_PKI_NODE_EXISTS', `node "${node}" already exists in ${options.dir}`, {
      details: { node, dir: options.dir },
    })
  }
  checkNoOverlap(node, workloadCidrs, await listNodes(options.dir))
  const rootKey = await signingKeyFromPem(await readPrivateKey(ca.paths.key), `root key ${ca.paths.key}`)
  const now = options.now ?? new Date()
  const cap = ca.cert.notAfter

  const planned: Array<{ path: string; data: string; mode: number }> = []
  const nodeKey = await generateKey()
  const nodeCert = await signCertificate({
    subject: `CN=${dnValue(node)}, O=${dnValue(ca.trustDomain)}`,
    issuer: ca.cert.subject,
    publicKey: nodeKey.keys.publicKey,
    signingKey: rootKey,
    ...validityWindow(nodeLifetime, now, cap),
    extensions: await leafExtensions(
      nodeKey.keys.publicKey,
      ca.cert,
      nodeSpiffeId(ca.trustDomain, node).toString(),
      [underlayIp],
    ),
  })
  const caKey = await generateKey()
  const caCert = await signCertificate({
    subject: `CN=${dnValue(`latch node CA ${node}`)}, O=${dnValue(ca.trustDomain)}`,
    issuer: ca.cert.subject,
    publicKey: caKey.keys.publicKey,
    signingKey: rootKey,
    ...validityWindow(LIFETIME.intermediate, now, cap),
    extensions: await intermediateExtensions(caKey.keys.publicKey, ca.cert, workloadCidrs, ca.trustDomain),
  })
  const info: NodeInfo = { node, underlayIp, workloadCidrs }
  // key before certificate: a watching latchd that sees the new certificate first refuses the pair
  // (key mismatch) and takes it once the key is there too
  if (options.only !== 'intermediate') {
    planned.push({ path: paths.key, data: nodeKey.pem, mode: KEY_MODE })
    planned.push({ path: paths.cert, data: toPem(nodeCert), mode: PUBLIC_MODE })
  }
  if (options.only !== 'cert') {
    planned.push({ path: paths.caKey, data: caKey.pem, mode: KEY_MODE })
    planned.push({ path: paths.caCert, data: toPem(caCert), mode: PUBLIC_MODE })
  }
  planned.push({ path: paths.info, data: `${JSON.stringify(info, null, 2)}\n`, mode: PUBLIC_MODE })
  const files = await commitFiles(planned)
  return { files }
}

/**
 * Whether an intermediate is the node CA of `node` (as issueNode names it): its SPIFFE ID SAN, or
 * for older intermediates the subject CN.
 */
export function intermediateNamesNode(cert: X509Certificate, node: string, trustDomain: string): boolean {
  const san = cert.subjectAltName ?? ''
  if (san.split(/,\s*/).includes(`URI:spiffe://${trustDomain}/latch/node/${node}`)) return true
  return cert.subject.split('\n').includes(`CN=latch node CA ${node}`)
}

/**
 * This node's identity as the daemon loads it at start: the root (trust bundle), the node certificate
 * and key, and the node's intermediate. Unreadable files stop the daemon. Problems that would make
 * every peer refuse this node (certificate not verifying against our root, not naming this node,
 * lacking the listen address; an intermediate that is not ours or does not cover workloadCidrs) are
 * returned as `problems` for the daemon to log loudly: the peers are the enforcement point, and their
 * refusals (with reasons) are what an operator sees on both sides.
 */
import { X509Certificate } from 'node:crypto'
import {
  cidrsWithin,
  intermediateNamesNode,
  loadPem,
  readNameConstraints,
  readPrivateKey,
  verify,
} from '../../certs/index.js'
import { nodeSpiffeId } from '../base/spiffe-id.js'
import type { Config } from '../config/schema.js'

export interface LocalIdentity {
  spiffeId: string
  rootPem: string
  certPem: string
  /** Secret. */
  keyPem: string
  intermediatePem: string
  /** Why peers will refuse this node, if they will (empty when all is well). */
  problems: string[]
}

export async function loadLocalIdentity(c: Config): Promise<LocalIdentity> {
  const rootPem = await loadPem(c.pki.caFile)
  const certPem = await loadPem(c.pki.certFile)
  const keyPem = await readPrivateKey(c.pki.keyFile)
  const intermediatePem = await loadPem(c.pki.intermediateCertFile)
  return {
    rootPem,
    certPem,
    keyPem,
    intermediatePem,
    ...identityProblems(c, certPem, rootPem, intermediatePem),
  }
}

/** Pure: what is wrong with this node's identity, from its peers' point of view. */
export function identityProblems(
  c: Config,
  certPem: string,
  rootPem: string,
  intermediatePem: string,
): { spiffeId: string; problems: string[] } {
  const problems: string[] = []
  const expected = nodeSpiffeId(c.trustDomain, c.node).toString()
  const v = verify(
    certPem,
    { roots: rootPem, trustDomain: c.trustDomain },
    { kind: 'node', spiffeId: expected },
  )
  if (!v.ok) {
    problems.push(`node certificate ${c.pki.certFile} does not verify: ${v.reason}: ${v.message}`)
  } else if (!v.ips.includes(c.listen.address)) {
    problems.push(
      `node certificate ${c.pki.certFile} does not carry the listen address ${c.listen.address} (it has ${v.ips.join(', ') || 'no IP'}); peers will refuse this node's endpoint`,
    )
  }
  try {
    if (!intermediateNamesNode(new X509Certificate(intermediatePem), c.node, c.trustDomain)) {
      problems.push(`${c.pki.intermediateCertFile} is not node ${c.node}'s intermediate CA`)
    }
    const outside = cidrsWithin(c.workloadCidrs, readNameConstraints(intermediatePem).permittedCidrs)
    if (outside.length > 0) {
      problems.push(
        `workloadCidrs ${outside.join(', ')} are outside the name constraints of ${c.pki.intermediateCertFile}; peers will refuse this node`,
      )
    }
  } catch (err) {
    problems.push(`${c.pki.intermediateCertFile}: ${(err as Error).message}`)
  }
  return { spiffeId: expected, problems }
}

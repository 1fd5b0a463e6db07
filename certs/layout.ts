/**
 * Where each file of the PKI lives under the PKI directory (the on-disk contract other parts rely on):
 *
 *   <dir>/ca/root.crt  root.key (0600)  trust-domain
 *   <dir>/nodes/<node>/node.crt node.key  ca.crt ca.key  node.json
 *   <dir>/nodes/<node>/workloads/<SPIFFE ID path segments>/svid.crt svid.key chain.pem
 *
 * Pure: computes paths, touches nothing.
 */
import { join } from 'node:path'
import { LatchError } from '../daemon/base/errors.js'
import type { SpiffeId } from '../daemon/base/spiffe-id.js'

export interface CaPaths {
  readonly dir: string
  readonly cert: string
  readonly key: string
  readonly trustDomain: string
}

export interface NodePaths {
  readonly dir: string
  readonly cert: string
  readonly key: string
  readonly caCert: string
  readonly caKey: string
  readonly info: string
  readonly workloads: string
}

export interface WorkloadPaths {
  readonly dir: string
  readonly cert: string
  readonly key: string
  readonly chain: string
}

export function caPaths(pkiDir: string): CaPaths {
  const dir = join(pkiDir, 'ca')
  return {
    dir,
    cert: join(dir, 'root.crt'),
    key: join(dir, 'root.key'),
    trustDomain: join(dir, 'trust-domain'),
  }
}

const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/

/** Node names are DNS-label-like: 1-63 of a-z 0-9 "-", not starting with "-". */
export function checkNodeName(node: string): string {
  if (typeof node !== 'string' || !NODE_NAME.test(node)) {
    throw new LatchError('LATCH_ERR_PKI_BAD_NAME', `"${String(node)}" is not a valid node name`, {
      details: { node },
    })
  }
  return node
}

export function nodesDir(pkiDir: string): string {
  return join(pkiDir, 'nodes')
}

export function nodePaths(pkiDir: string, node: string): NodePaths {
  const dir = join(nodesDir(pkiDir), checkNodeName(node))
  return {
    dir,
    cert: join(dir, 'node.crt'),
    key: join(dir, 'node.key'),
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    info: join(dir, 'node.json'),
    workloads: join(dir, 'workloads'),
  }
}

/** The `pki:` block of a latchd config for `node`, from a PKI directory laid out as above. */
export interface DaemonPkiFiles {
  caFile: string
  certFile: string
  keyFile: string
  intermediateCertFile: string
  intermediateKeyFile: string
}

export function daemonPkiFiles(pkiDir: string, node: string): DaemonPkiFiles {
  const n = nodePaths(pkiDir, node)
  return {
    caFile: caPaths(pkiDir).cert,
    certFile: n.cert,
    keyFile: n.key,
    intermediateCertFile: n.caCert,
    intermediateKeyFile: n.caKey,
  }
}

export function workloadPaths(pkiDir: string, node: string, id: SpiffeId): WorkloadPaths {
  // SPIFFE path segments are never "", "." or ".." (parseSpiffeId guarantees it), so this stays inside.
  const dir = join(nodePaths(pkiDir, node).workloads, ...id.segments)
  return { dir, cert: join(dir, 'svid.crt'), key: join(dir, 'svid.key'), chain: join(dir, 'chain.pem') }
}

/**
 * Reading what `ca init` and `node issue` left in the PKI directory, with the errors an operator can act
 * on (no CA yet, unknown node, damaged file).
 */
import { readdir, readFile } from 'node:fs/promises'
import { LatchError } from '../daemon/base/errors.js'
import { parseTrustDomain } from '../daemon/base/spiffe-id.js'
import { exists } from './files.js'
import { type CaPaths, caPaths, checkNodeName, type NodePaths, nodePaths, nodesDir } from './layout.js'
import { parseCidr, parseIp } from './net.js'
import { loadCertificates, type x509 } from './x509.js'

export interface NodeInfo {
  readonly node: string
  readonly underlayIp: string
  readonly workloadCidrs: string[]
}

function corrupt(file: string, why: string, cause?: unknown): LatchError {
  return new LatchError('LATCH_ERR_PKI_STATE_CORRUPT', `${file}: ${why}`, { cause, details: { file } })
}

/** The trust domain of the CA in `dir`; LATCH_ERR_PKI_CA_MISSING when there is none. */
export async function readTrustDomain(dir: string): Promise<string> {
  const paths = caPaths(dir)
  if (!(await exists(paths.trustDomain)) || !(await exists(paths.cert))) {
    throw new LatchError('LATCH_ERR_PKI_CA_MISSING', `no CA in ${dir} (${paths.cert} does not exist)`, {
      details: { dir },
    })
  }
  const text = (await readFile(paths.trustDomain, 'utf8')).trim()
  try {
    return parseTrustDomain(text)
  } catch (cause) {
    throw corrupt(paths.trustDomain, 'does not hold a valid trust domain', cause)
  }
}

export interface LoadedCa {
  readonly paths: CaPaths
  readonly trustDomain: string
  readonly cert: x509.X509Certificate
}

export async function loadCa(dir: string): Promise<LoadedCa> {
  const trustDomain = await readTrustDomain(dir)
  const paths = caPaths(dir)
  const [cert] = await loadCertificates(paths.cert)
  return { paths, trustDomain, cert: cert as x509.X509Certificate }
}

/** node.json of `node`; LATCH_ERR_PKI_NODE_UNKNOWN when the node was never issued. */
export async function readNodeInfo(dir: string, node: string): Promise<{ info: NodeInfo; paths: NodePaths }> {
  const paths = nodePaths(dir, node)
  let text: string
  try {
    text = await readFile(paths.info, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LatchError('LATCH_ERR_PKI_NODE_UNKNOWN', `node "${node}" has not been issued in ${dir}`, {
        details: { node, dir },
      })
    }
    throw corrupt(paths.info, 'cannot be read', cause)
  }
  try {
    const raw = JSON.parse(text) as Partial<NodeInfo>
    if (raw.node !== node || typeof raw.underlayIp !== 'string' || !Array.isArray(raw.workloadCidrs)) {
      throw new Error('missing or wrong fields')
    }
    parseIp(raw.underlayIp)
    for (const c of raw.workloadCidrs) parseCidr(c)
    return { info: { node, underlayIp: raw.underlayIp, workloadCidrs: [...raw.workloadCidrs] }, paths }
  } catch (cause) {
    throw corrupt(paths.info, 'is not the node.json latch wrote; re-issue the node', cause)
  }
}

/** Every node issued in `dir` (names of directories holding a node.json). */
export async function listNodes(dir: string): Promise<NodeInfo[]> {
  let names: string[]
  try {
    names = await readdir(nodesDir(dir))
  } catch {
    return []
  }
  const out: NodeInfo[] = []
  for (const name of names.sort()) {
    try {
      checkNodeName(name)
    } catch {
      continue
    }
    if (await exists(nodePaths(dir, name).info)) out.push((await readNodeInfo(dir, name)).info)
  }
  return out
}

/**
 * The lab's identities, issued with the PKI (certs/): a CA for trust domain lab.latch, one node
 * certificate + name-constrained intermediate per node (IP = its underlay address, workload CIDRs
 * 10.100.<i>.0/24 and 10.<128+i>.0.0/20), one SVID per workload. Only what is missing is issued; a node
 * whose intermediate permits other CIDRs than the plan's (a PKI left by an older lab) is re-issued;
 * re-issuing a parent re-issues what it signed, so a half-issued PKI is completed into a consistent one.
 */
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { initCa, issueNode, issueWorkload, parseCidr, readNameConstraints } from '../../certs/index.js'
import type { LabPlan } from './plan.js'

/** Lab SVIDs outlive a working day; latchd renews them from the intermediate before then anyway. */
export const LAB_SVID_TTL = '24h'

async function exists(...files: string[]): Promise<boolean> {
  try {
    await Promise.all(files.map((f) => access(f)))
    return true
  } catch {
    return false
  }
}

/** Whether the intermediate in `caCert` permits exactly `cidrs` (false when it cannot be read). */
export async function constraintsMatch(caCert: string, cidrs: readonly string[]): Promise<boolean> {
  try {
    const { permittedCidrs } = readNameConstraints(await readFile(caCert, 'utf8'))
    const norm = (list: readonly string[]) =>
      list
        .map((c) => parseCidr(c).text)
        .sort()
        .join(' ')
    return norm(permittedCidrs) === norm(cidrs)
  } catch {
    return false
  }
}

export async function ensureIdentities(plan: LabPlan): Promise<string[]> {
  const dir = plan.pkiDir
  const actions: string[] = []
  let newCa = false
  if (
    !(await exists(join(dir, 'ca', 'root.crt'), join(dir, 'ca', 'root.key'), join(dir, 'ca', 'trust-domain')))
  ) {
    await initCa({ dir, trustDomain: plan.trustDomain, force: true })
    actions.push(`CA for ${plan.trustDomain}`)
    newCa = true
  }
  for (const node of plan.nodes) {
    const nodeDir = join(dir, 'nodes', node.name)
    const files = ['node.crt', 'node.key', 'ca.crt', 'ca.key', 'node.json'].map((f) => join(nodeDir, f))
    let newNode = false
    const stale =
      (await exists(...files)) && !(await constraintsMatch(join(nodeDir, 'ca.crt'), node.workloadCidrs))
    if (newCa || stale || !(await exists(...files))) {
      await issueNode({
        dir,
        node: node.name,
        ip: node.underlayIp,
        workloadCidrs: node.workloadCidrs,
        force: true,
      })
      actions.push(`node identity ${node.name}${stale ? ' (its workload CIDRs changed)' : ''}`)
      newNode = true
    }
    for (const w of node.workloads) {
      const svid = ['svid.crt', 'svid.key', 'chain.pem'].map((f) => join(w.svidDir, f))
      if (newNode || !(await exists(...svid))) {
        await issueWorkload({ dir, spiffeId: w.spiffeId, node: node.name, ips: [w.ip], ttl: LAB_SVID_TTL })
        actions.push(`SVID ${w.spiffeId}`)
      }
    }
  }
  return actions
}

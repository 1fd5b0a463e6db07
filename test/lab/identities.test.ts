import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { issueNode, readNameConstraints } from '../../certs/index.js'
import { ensureIdentities } from '../../daemon/lab/identities.js'
import { LAB_PKI_DIR, labPlan } from '../../daemon/lab/plan.js'

async function tempPlan() {
  const dir = await mkdtemp(join(tmpdir(), 'latch-lab-ids-'))
  const lab = labPlan({ nodes: 2, workloads: 1 })
  // the plan's paths, moved from /run/latch-lab/pki into the temp dir
  const nodes = lab.nodes.map((n) => ({
    ...n,
    workloads: n.workloads.map((w) => ({ ...w, svidDir: w.svidDir.replace(LAB_PKI_DIR, dir) })),
  }))
  return { dir, plan: { ...lab, pkiDir: dir, nodes } }
}

test("each node's intermediate permits both of its workload CIDRs; a second run issues nothing", async (t) => {
  const { dir, plan } = await tempPlan()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const first = await ensureIdentities(plan)
  t.true(first.includes('node identity node2'), first.join('; '))
  const ca = await readFile(join(dir, 'nodes', 'node2', 'ca.crt'), 'utf8')
  t.deepEqual(readNameConstraints(ca).permittedCidrs, ['10.100.2.0/24', '10.130.0.0/20'])
  t.deepEqual(await ensureIdentities(plan), [])
})

test('a node issued with other CIDRs (an older lab) is re-issued, with its SVIDs; the others are kept', async (t) => {
  const { dir, plan } = await tempPlan()
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await ensureIdentities(plan)
  const node1 = plan.nodes[0]!
  await issueNode({
    dir,
    node: 'node1',
    ip: node1.underlayIp,
    workloadCidrs: [node1.workloadCidr],
    force: true,
  })
  const again = await ensureIdentities(plan)
  t.deepEqual(again, [
    'node identity node1 (its workload CIDRs changed)',
    `SVID ${node1.workloads[0]!.spiffeId}`,
  ])
  const ca = await readFile(join(dir, 'nodes', 'node1', 'ca.crt'), 'utf8')
  t.deepEqual(readNameConstraints(ca).permittedCidrs, node1.workloadCidrs)
})

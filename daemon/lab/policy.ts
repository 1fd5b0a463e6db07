/**
 * The lab's sample policy (written by `latchctl lab up` to /run/latch-lab/policy.yaml, which every
 * lab latchd watches). What it allows, for N nodes with M workloads each:
 *  - every `nodeI-w1` and every other node's `-w1`, both directions (a full mesh of the w1s);
 *  - `node1-w2 → node2-w2` (one direction; replies flow, the pair is authenticated both ways);
 *  - nothing else: e.g. `node1-w2 ↔ node3-w2` and `node2-w2 ↔ node3-w2` stay denied, and so do
 *    the pairs of two workloads on one node and the nodes' own traffic to workloads (no `from: node`).
 * The file carries its own tests (`latchctl policy test /run/latch-lab/policy.yaml`). Pure.
 */
import { join } from 'node:path'
import { stringify } from 'yaml'
import { LAB_STATE_DIR, type LabPlan } from './plan.js'

export const LAB_POLICY_FILE = join(LAB_STATE_DIR, 'policy.yaml')

/** The lab's revocation list (README "Revocation list"), watched by every lab latchd; empty at first. */
export const LAB_REVOCATION_FILE = join(LAB_STATE_DIR, 'revocations.yaml')

export function renderLabRevocations(plan: LabPlan): string {
  return `# revocation list of the lab; written empty by \`latchctl lab up\`, edits are hot-reloaded\n${stringify({ version: 1, trustDomain: plan.trustDomain, revoked: [] })}`
}

export function renderLabPolicy(plan: LabPlan): string {
  const w = (node: number, j: number) => plan.nodes[node - 1]?.workloads.find((x) => x.index === j)?.spiffeId
  const allow: Array<{ from: string; to: string }> = []
  const tests: Array<{ from: string; to: string; expect: 'allow' | 'deny' }> = []
  const n = plan.nodes.length
  for (let i = 1; i <= n; i++) {
    for (let k = 1; k <= n; k++) {
      const a = w(i, 1)
      const b = w(k, 1)
      if (i !== k && a && b) allow.push({ from: a, to: b })
    }
  }
  const n1w2 = w(1, 2)
  const n2w2 = w(2, 2)
  const n3w2 = w(3, 2)
  if (n1w2 && n2w2) {
    allow.push({ from: n1w2, to: n2w2 })
    tests.push({ from: n1w2, to: n2w2, expect: 'allow' })
    tests.push({ from: n2w2, to: n1w2, expect: 'deny' })
  }
  if (n3w2 && n1w2) tests.push({ from: n1w2, to: n3w2, expect: 'deny' })
  if (n3w2 && n2w2) tests.push({ from: n2w2, to: n3w2, expect: 'deny' })
  const w11 = w(1, 1)
  const w21 = w(2, 1)
  if (w11 && w21) tests.push({ from: w11, to: w21, expect: 'allow' }, { from: w21, to: w11, expect: 'allow' })
  const header = [
    '# The lab sample policy, written by `latchctl lab up`; latchd on every lab node hot-reloads it.',
    "# Every nodeI-w1 may talk to every other node's -w1; node1-w2 may open flows to node2-w2;",
    '# everything else between mesh workloads is denied (e.g. node1-w2 <-> node3-w2).',
    '# Check an edit with `latchctl policy check FILE` and `latchctl policy test FILE`.',
  ].join('\n')
  return `${header}\n${stringify({ version: 1, trustDomain: plan.trustDomain, allow, ...(tests.length > 0 && { tests }) })}`
}

import { join } from 'node:path'
import test from 'ava'
import { workloadPaths } from '../../certs/index.js'
import { cidrInCidr, parseCidr } from '../../certs/net.js'
import { isLatchError } from '../../daemon/base/errors.js'
import { parseSpiffeId } from '../../daemon/base/spiffe-id.js'
import {
  cniRangeOf,
  LAB_NETNS_PATTERN,
  LAB_PKI_DIR,
  labPlan,
  labSize,
  MAX_CNI_WORKLOADS,
  MAX_NODES,
  planNetns,
  resolveTarget,
} from '../../daemon/lab/plan.js'

test('the default lab is 3 nodes with 2 workloads each, addressed as documented', (t) => {
  const plan = labPlan(labSize())
  t.deepEqual(plan.size, { nodes: 3, workloads: 2 })
  const n2 = plan.nodes[1]!
  t.like(n2, {
    name: 'node2',
    netns: 'latch-node2',
    underlayIp: '10.99.0.12',
    tunnelAddress: '10.101.0.2/32',
    workloadCidr: '10.100.2.0/24',
    cniCidr: '10.130.0.0/20',
    configFile: '/run/latch-lab/node2/latchd.yaml',
    controlSocket: '/run/latch-lab/node2/latchd.sock',
    mountNsFile: '/run/latch-lab/node2/mnt',
    wireguardDir: '/run/latch-lab/node2/wireguard',
  })
  t.like(n2.workloads[1], {
    name: 'node2-w2',
    netns: 'latch-node2-w2',
    ip: '10.100.2.12',
    hostInterface: 'lw2',
    spiffeId: 'spiffe://lab.latch/ns/lab/sa/node2-w2',
  })
  t.deepEqual(n2.workloadCidrs, ['10.100.2.0/24', '10.130.0.0/20'])
})

test('the CNI CIDRs of up to MAX_NODES nodes overlap nothing: each other, the static ones, underlay, tunnel', (t) => {
  const plan = labPlan({ nodes: MAX_NODES, workloads: 1 })
  const cidrs = ['10.99.0.0/24', '10.101.0.0/24', ...plan.nodes.flatMap((n) => n.workloadCidrs)].map(
    parseCidr,
  )
  for (const [i, a] of cidrs.entries()) {
    for (const b of cidrs.slice(i + 1)) t.false(cidrInCidr(a, b) || cidrInCidr(b, a), `${a.text} ${b.text}`)
  }
  const range = cniRangeOf(MAX_NODES)
  t.deepEqual(range, { subnet: '10.228.0.0/20', rangeStart: '10.228.0.10', rangeEnd: '10.228.15.250' })
  t.true(MAX_CNI_WORKLOADS >= 1000)
})

test("a workload's SVID dir is where the PKI writes it", (t) => {
  for (const w of labPlan({ nodes: 2, workloads: 3 }).nodes.flatMap((n) => n.workloads)) {
    t.is(w.svidDir, workloadPaths(LAB_PKI_DIR, w.node, parseSpiffeId(w.spiffeId)).dir)
  }
  t.is(join(LAB_PKI_DIR), '/run/latch-lab/pki')
})

test('every planned namespace matches the pattern down removes, and nothing else does', (t) => {
  const names = planNetns(labPlan({ nodes: 12, workloads: 11 }))
  t.is(names.length, 1 + 12 + 12 * 11)
  for (const n of names) t.regex(n, LAB_NETNS_PATTERN)
  for (const other of ['latch-t-probe', 'latch-node1x', 'latchnode1', 'latch-node1-w', 'latch-underlay2']) {
    t.notRegex(other, LAB_NETNS_PATTERN)
  }
  // dynamic workloads (`lab workload add node2 c1`) are the lab's too
  t.regex('latch-node2-c1', LAB_NETNS_PATTERN)
})

test('sizes outside 1..100 are refused with a usage error', (t) => {
  for (const [nodes, workloads] of [
    [0, 2],
    [3, 0],
    [101, 1],
    [1, 101],
    [1.5, 2],
    [Number.NaN, 2],
  ] as const) {
    const err = t.throws(() => labSize(nodes, workloads))
    t.true(isLatchError(err, 'LATCH_ERR_LAB_BAD_SIZE'), `${nodes}×${workloads}`)
  }
})

test('exec targets resolve to the netns and the owning node', (t) => {
  const plan = labPlan({ nodes: 3, workloads: 2 })
  t.is(resolveTarget(plan, 'node3').netns, 'latch-node3')
  const w = resolveTarget(plan, 'node1-w2')
  t.is(w.netns, 'latch-node1-w2')
  t.is(w.node.name, 'node1')
  for (const bad of ['node4', 'node1-w3', 'w1', '', 'latch-node1']) {
    const err = t.throws(() => resolveTarget(plan, bad))
    t.true(isLatchError(err, 'LATCH_ERR_LAB_UNKNOWN_TARGET'), bad)
  }
})

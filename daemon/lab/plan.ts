/**
 * The lab's shape and its documented defaults (README "Lab"): every name, address and path other
 * parts of latch code against comes from here. Pure: no I/O.
 *
 *   underlay   netns `latch-underlay`, bridge `latchbr0`
 *   node i     netns `latch-node<i>`, eth0 = 10.99.0.<10+i>/24 (veth to the bridge),
 *              WireGuard `latch0` UDP 51820, tunnel 10.101.0.<i>/32, handshake TCP 7443,
 *              workload CIDRs 10.100.<i>.0/24 (static workloads) and 10.<128+i>.0.0/20 (CNI workloads)
 *   workload j netns `latch-node<i>-w<j>`, eth0 = 10.100.<i>.<10+j>/32, default route via the
 *              node side `lw<j>` (gateway 169.254.1.1), SPIFFE ID spiffe://lab.latch/ns/lab/sa/node<i>-w<j>
 */
import { join } from 'node:path'
import { LatchError } from '../base/errors.js'

export const LAB_TRUST_DOMAIN = 'lab.latch'
export const LAB_STATE_DIR = '/run/latch-lab'
export const LAB_PKI_DIR = join(LAB_STATE_DIR, 'pki')
export const LAB_STATE_FILE = join(LAB_STATE_DIR, 'lab.json')
export const UNDERLAY_NETNS = 'latch-underlay'
export const UNDERLAY_BRIDGE = 'latchbr0'
export const WG_INTERFACE = 'latch0'
export const WG_PORT = 51820
export const HANDSHAKE_PORT = 7443
/** Link-local gateway every workload routes through; each node-side `lw<j>` carries it as a /32. */
export const WORKLOAD_GATEWAY = '169.254.1.1'
export const DEFAULT_NODES = 3
export const DEFAULT_WORKLOADS = 2
export const MAX_NODES = 100
export const MAX_WORKLOADS = 100

/**
 * The second workload CIDR of node i, for the workloads the CNI chain adds (`lab workload add`,
 * scripts/bench-cni): 10.<128+i>.0.0/20, 4096 addresses, clear of the underlay (10.99.0.0/24), the
 * static workloads (10.100.0.0/16) and the tunnel (10.101.0.0/24) for every i ≤ MAX_NODES.
 */
export function cniCidrOf(i: number): string {
  return `10.${128 + i}.0.0/20`
}
/** What host-local hands out of node i's CNI CIDR: 10.<128+i>.0.10 – 10.<128+i>.15.250 (4081 addresses). */
export function cniRangeOf(i: number): { subnet: string; rangeStart: string; rangeEnd: string } {
  return { subnet: cniCidrOf(i), rangeStart: `10.${128 + i}.0.10`, rangeEnd: `10.${128 + i}.15.250` }
}
/** How many CNI workloads one lab node can hold (the size of cniRangeOf). */
export const MAX_CNI_WORKLOADS = 15 * 256 + 250 - 10 + 1

/** Every network namespace the lab may have created, whatever its size (used by `down`). */
export const LAB_NETNS_PATTERN = /^latch-(underlay|node\d+(-w\d+|-(?!w\d*$)[a-z0-9][a-z0-9-]{0,19})?)$/
/** Host bpffs pins the lab owns (nodes pin into their own bpffs inside their mount namespace). */
export const LAB_BPF_PIN_PATTERN = /^latch-lab/

export interface LabSize {
  nodes: number
  workloads: number
}

export interface LabWorkload {
  /** `node<i>-w<j>`: the name `lab exec` accepts. */
  name: string
  node: string
  index: number
  netns: string
  ip: string
  /** Host side of the veth pair, inside the node's netns. */
  hostInterface: string
  spiffeId: string
  /** PKI dir of its SVID: <pki>/nodes/<node>/workloads/ns/lab/sa/<name>. */
  svidDir: string
}

export interface LabNode {
  name: string
  index: number
  netns: string
  underlayIp: string
  /** The veth end in the underlay netns, enslaved to the bridge. */
  bridgePort: string
  tunnelAddress: string
  /** The static workloads' CIDR, 10.100.<i>.0/24. */
  workloadCidr: string
  /** The CNI workloads' CIDR, 10.<128+i>.0.0/20 (cniCidrOf). */
  cniCidr: string
  /** Every CIDR the node speaks for: its intermediate's name constraints, latchd's workloadCidrs. */
  workloadCidrs: string[]
  dir: string
  mountNsFile: string
  wireguardDir: string
  configFile: string
  peersFile: string
  logFile: string
  controlSocket: string
  wgKeyFile: string
  workloads: LabWorkload[]
}

export interface LabPlan {
  size: LabSize
  trustDomain: string
  stateDir: string
  pkiDir: string
  nodes: LabNode[]
}

/** Checks a requested size and says what is wrong; defaults fill in what was not given. */
export function labSize(nodes: number = DEFAULT_NODES, workloads: number = DEFAULT_WORKLOADS): LabSize {
  for (const [what, value, max] of [
    ['--nodes', nodes, MAX_NODES],
    ['--workloads', workloads, MAX_WORKLOADS],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > max) {
      throw new LatchError(
        'LATCH_ERR_LAB_BAD_SIZE',
        `${what} must be a whole number from 1 to ${max}, got ${value}`,
        {
          details: { option: what, value, max },
        },
      )
    }
  }
  return { nodes, workloads }
}

export function labPlan(size: LabSize): LabPlan {
  const { nodes, workloads } = labSize(size.nodes, size.workloads)
  const list: LabNode[] = []
  for (let i = 1; i <= nodes; i++) {
    const name = `node${i}`
    const dir = join(LAB_STATE_DIR, name)
    const ws: LabWorkload[] = []
    for (let j = 1; j <= workloads; j++) {
      const wname = `${name}-w${j}`
      ws.push({
        name: wname,
        node: name,
        index: j,
        netns: `latch-${wname}`,
        ip: `10.100.${i}.${10 + j}`,
        hostInterface: `lw${j}`,
        spiffeId: `spiffe://${LAB_TRUST_DOMAIN}/ns/lab/sa/${wname}`,
        svidDir: join(LAB_PKI_DIR, 'nodes', name, 'workloads', 'ns', 'lab', 'sa', wname),
      })
    }
    list.push({
      name,
      index: i,
      netns: `latch-${name}`,
      underlayIp: `10.99.0.${10 + i}`,
      bridgePort: `latch-${name}`,
      tunnelAddress: `10.101.0.${i}/32`,
      workloadCidr: `10.100.${i}.0/24`,
      cniCidr: cniCidrOf(i),
      workloadCidrs: [`10.100.${i}.0/24`, cniCidrOf(i)],
      dir,
      mountNsFile: join(dir, 'mnt'),
      wireguardDir: join(dir, 'wireguard'),
      configFile: join(dir, 'latchd.yaml'),
      peersFile: join(dir, 'peers.yaml'),
      logFile: join(dir, 'latchd.log'),
      controlSocket: join(dir, 'latchd.sock'),
      wgKeyFile: join(dir, 'wg.key'),
      workloads: ws,
    })
  }
  return {
    size: { nodes, workloads },
    trustDomain: LAB_TRUST_DOMAIN,
    stateDir: LAB_STATE_DIR,
    pkiDir: LAB_PKI_DIR,
    nodes: list,
  }
}

/** Every netns of the plan, underlay first, then each node followed by its workloads. */
export function planNetns(plan: LabPlan): string[] {
  const out = [UNDERLAY_NETNS]
  for (const n of plan.nodes) out.push(n.netns, ...n.workloads.map((w) => w.netns))
  return out
}

export interface ExecTarget {
  netns: string
  node: LabNode
  workload?: LabWorkload
}

/** Resolves `node<i>` or `node<i>-w<j>` to the namespaces `lab exec` enters. */
export function resolveTarget(plan: LabPlan, target: string): ExecTarget {
  for (const node of plan.nodes) {
    if (node.name === target) return { netns: node.netns, node }
    const workload = node.workloads.find((w) => w.name === target)
    if (workload) return { netns: workload.netns, node, workload }
  }
  const dynamic = dynamicWorkloadNode(plan, target)
  if (dynamic) return { netns: `latch-${target}`, node: dynamic }
  const names = plan.nodes.flatMap((n) => [n.name, ...n.workloads.map((w) => w.name)])
  throw new LatchError('LATCH_ERR_LAB_UNKNOWN_TARGET', `no node or workload named "${target}" in the lab`, {
    details: { target, known: names },
  })
}

/** Name rule of dynamic workloads (`lab workload add NODE NAME`); w<N> is left to the static ones. */
export const DYNAMIC_WORKLOAD_NAME = /^(?!w\d*$)[a-z0-9][a-z0-9-]{0,19}$/

/** The node of a dynamic workload `NODE-NAME` (its netns is latch-NODE-NAME), if `target` names one. */
export function dynamicWorkloadNode(plan: LabPlan, target: string): LabNode | undefined {
  const t = target.startsWith('latch-') ? target.slice(6) : target
  return plan.nodes.find(
    (n) => t.startsWith(`${n.name}-`) && DYNAMIC_WORKLOAD_NAME.test(t.slice(n.name.length + 1)),
  )
}

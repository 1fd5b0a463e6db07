/**
 * Dynamic lab workloads: `latchctl lab workload add|remove NODE NAME`. A workload is a network
 * namespace `latch-<node>-<name>` wired by the real CNI chain a runtime would run on that node —
 * Debian's `ptp` with `host-local` IPAM (addresses 10.<128+i>.0.10 – 10.<128+i>.15.250 of node i's CNI
 * CIDR 10.<128+i>.0.0/20, plan.ts `cniRangeOf`: up to 4081 workloads a node), then `latch-cni` — invoked exactly as a runtime does (cni-runtime.ts) inside the node's network
 * namespace. Its identity comes from latch-cni's template rule with CNI_ARGS
 * K8S_POD_NAMESPACE=lab, K8S_POD_NAME=<node>-<name>: spiffe://lab.latch/ns/lab/sa/<node>-<name>.
 * The ADD result is cached (like a runtime's cache) for DEL and CHECK.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LatchError } from '../base/errors.js'
import { addNetworkList, type ConfList, checkNetworkList, delNetworkList } from './cni-runtime.js'
import { repoRoot } from './daemons.js'
import { deleteNetns, netnsPath } from './netns.js'
import { cniRangeOf, DYNAMIC_WORKLOAD_NAME, type LabNode, labPlan } from './plan.js'
import { run } from './run.js'
import { readState } from './state.js'
import { requireRoot } from './up.js'

/** Where Debian's containernetworking-plugins are. */
export const CNI_BIN_DIR = '/usr/lib/cni'

/** CNI_PATH of the lab: THIS tree's latch-cni (dist/cni-bin, made by the build), then Debian's plugins. */
export function labCniPath(): string[] {
  return [join(repoRoot(), 'dist', 'cni-bin'), CNI_BIN_DIR]
}
/** MTU of the workload veth: the tunnel's (wireguard-go's 1420). */
const WORKLOAD_MTU = 1420

export interface LabCniWorkload {
  node: string
  name: string
  netns: string
  spiffeId: string
  ip: string
  containerId: string
}

export function labConfList(
  node: LabNode,
  readyTimeout = '10s',
  onTimeout: 'fail' | 'succeed' = 'fail',
): ConfList {
  return {
    cniVersion: '1.0.0',
    name: `latch-lab-${node.name}`,
    plugins: [
      {
        type: 'ptp',
        ipMasq: false,
        mtu: WORKLOAD_MTU,
        ipam: {
          type: 'host-local',
          ranges: [[cniRangeOf(node.index)]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: join(node.dir, 'cni', 'ipam'),
        },
      },
      {
        type: 'latch-cni',
        controlSocket: node.controlSocket,
        readyTimeout,
        onTimeout,
        identity: { template: 'spiffe://lab.latch/ns/{namespace}/sa/{name}' },
      },
    ],
  }
}

async function labNode(nodeName: string, name: string): Promise<LabNode> {
  requireRoot()
  if (!DYNAMIC_WORKLOAD_NAME.test(name)) {
    throw new LatchError(
      'LATCH_ERR_USAGE_BAD_ARGUMENT',
      `workload name ${JSON.stringify(name)}: 1-20 lowercase letters, digits and "-", not w<N> (the static workloads)`,
    )
  }
  const state = await readState()
  if (!state) throw new LatchError('LATCH_ERR_LAB_NOT_UP', 'no lab is up')
  const node = labPlan(state.size).nodes.find((n) => n.name === nodeName)
  if (!node) {
    throw new LatchError('LATCH_ERR_LAB_UNKNOWN_TARGET', `${nodeName} is not a node of this lab`, {
      details: { target: nodeName },
    })
  }
  return node
}

const cacheFile = (node: LabNode, name: string) => join(node.dir, 'cni', `${name}.json`)

function invocation(node: LabNode, w: { netns: string; containerId: string; node: string; name: string }) {
  return {
    containerId: w.containerId,
    netns: netnsPath(w.netns),
    ifname: 'eth0',
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=${w.node}-${w.name}`,
    path: labCniPath(),
    wrap: ['nsenter', `--net=${netnsPath(node.netns)}`],
  }
}

export async function labCniAdd(
  nodeName: string,
  name: string,
  o: { readyTimeout?: string; onTimeout?: 'fail' | 'succeed' } = {},
): Promise<LabCniWorkload & { result: unknown }> {
  const node = await labNode(nodeName, name)
  const netns = `latch-${node.name}-${name}`
  const w = { node: node.name, name, netns, containerId: `lab-${node.name}-${name}` }
  const existing = await readFile(cacheFile(node, name), 'utf8').catch(() => undefined)
  if (existing !== undefined) {
    throw new LatchError(
      'LATCH_ERR_USAGE_BAD_ARGUMENT',
      `${node.name} already has a workload ${name}; remove it first`,
    )
  }
  await mkdir(join(node.dir, 'cni'), { recursive: true, mode: 0o700 })
  await run('ip', ['netns', 'add', netns])
  await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up'])
  const list = labConfList(node, o.readyTimeout, o.onTimeout)
  const inv = invocation(node, w)
  let result: unknown
  try {
    result = await addNetworkList(list, inv)
  } catch (err) {
    // what a runtime does after a failed ADD: DEL, then drop the sandbox
    await delNetworkList(list, inv, undefined).catch(() => undefined)
    await deleteNetns([netns]).catch(() => undefined)
    throw err
  }
  const ip =
    String((result as { ips?: Array<{ address: string }> }).ips?.[0]?.address ?? '').split('/')[0] ?? ''
  const out = { ...w, spiffeId: `spiffe://lab.latch/ns/lab/sa/${node.name}-${name}`, ip }
  await writeFile(cacheFile(node, name), JSON.stringify({ ...out, result }), { mode: 0o600 })
  return { ...out, result }
}

async function cached(
  node: LabNode,
  name: string,
): Promise<(LabCniWorkload & { result: unknown }) | undefined> {
  const text = await readFile(cacheFile(node, name), 'utf8').catch(() => undefined)
  return text === undefined ? undefined : JSON.parse(text)
}

/** DEL through the chain (latch-cni first), then the namespace; removing what is not there is fine. */
export async function labCniRemove(nodeName: string, name: string): Promise<boolean> {
  const node = await labNode(nodeName, name)
  const c = await cached(node, name)
  const netns = `latch-${node.name}-${name}`
  const w = c ?? { node: node.name, name, netns, containerId: `lab-${node.name}-${name}` }
  await delNetworkList(labConfList(node), invocation(node, w), c?.result)
  await deleteNetns([netns]).catch(() => undefined)
  await rm(cacheFile(node, name), { force: true })
  return c !== undefined
}

export async function labCniCheck(nodeName: string, name: string): Promise<void> {
  const node = await labNode(nodeName, name)
  const c = await cached(node, name)
  if (!c) throw new LatchError('LATCH_ERR_USAGE_BAD_ARGUMENT', `${node.name} has no workload ${name}`)
  await checkNetworkList(labConfList(node), invocation(node, c), c.result)
}

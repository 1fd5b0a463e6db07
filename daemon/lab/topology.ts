/**
 * The lab's network, as data: what every namespace should contain (desired), what one contains
 * (observed, from `ip -j`), and the `ip -batch` lines that turn one into the other. Pure: the
 * adapter in netns.ts observes and applies. An empty diff is how `lab up` knows nothing changed.
 */
import { type LabPlan, UNDERLAY_BRIDGE, UNDERLAY_NETNS, WORKLOAD_GATEWAY } from './plan.js'

export interface DesiredLink {
  name: string
  kind: 'veth' | 'bridge' | 'loopback'
  /** Host-run `ip -batch` line creating it (veths create both ends; only one end carries it). */
  create?: string
  master?: string
  addrs: string[]
}

export interface DesiredRoute {
  /** As `ip -j route` prints it: "default" or an address (no /32) or a CIDR. */
  dst: string
  dev: string
  gateway?: string
  /** The `ip route replace` arguments. */
  spec: string
}

export interface DesiredNetns {
  name: string
  sysctls: Record<string, string>
  links: DesiredLink[]
  routes: DesiredRoute[]
}

export interface ObservedLink {
  name: string
  kind: string
  up: boolean
  master?: string
  /** "10.0.0.1/24" form, IPv4 and IPv6. */
  addrs: string[]
}

export interface ObservedRoute {
  dst: string
  dev?: string
  gateway?: string
}

export interface ObservedNetns {
  links: ObservedLink[]
  routes: ObservedRoute[]
  sysctls: Record<string, string>
}

/** What to run, in order: netns creation, sysctls, host-side link creation, then per-netns batches. */
export interface TopologyChanges {
  createNetns: string[]
  sysctls: Map<string, Record<string, string>>
  hostBatch: string[]
  netnsBatches: Map<string, string[]>
}

const NO_IPV6 = { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' }
/** Nodes route between workloads, the underlay and the tunnel; asymmetric paths are normal. */
const NODE_SYSCTLS = {
  ...NO_IPV6,
  'net.ipv4.ip_forward': '1',
  'net.ipv4.conf.all.rp_filter': '0',
  'net.ipv4.conf.default.rp_filter': '0',
}

const lo: DesiredLink = { name: 'lo', kind: 'loopback', addrs: [] }

export function desiredTopology(plan: LabPlan): DesiredNetns[] {
  const underlay: DesiredNetns = {
    name: UNDERLAY_NETNS,
    // no IPv6 anywhere on the underlay: a capture there shows only what latch sends
    sysctls: { ...NO_IPV6 },
    links: [
      lo,
      {
        name: UNDERLAY_BRIDGE,
        kind: 'bridge',
        create: `link add ${UNDERLAY_BRIDGE} netns ${UNDERLAY_NETNS} type bridge`,
        addrs: [],
      },
      ...plan.nodes.map((n) => ({
        name: n.bridgePort,
        kind: 'veth' as const,
        master: UNDERLAY_BRIDGE,
        addrs: [],
      })),
    ],
    routes: [],
  }
  const out = [underlay]
  for (const n of plan.nodes) {
    out.push({
      name: n.netns,
      sysctls: { ...NODE_SYSCTLS },
      links: [
        lo,
        {
          name: 'eth0',
          kind: 'veth',
          create: `link add eth0 netns ${n.netns} type veth peer name ${n.bridgePort} netns ${UNDERLAY_NETNS}`,
          addrs: [`${n.underlayIp}/24`],
        },
        ...n.workloads.map((w) => ({
          name: w.hostInterface,
          kind: 'veth' as const,
          create: `link add ${w.hostInterface} netns ${n.netns} type veth peer name eth0 netns ${w.netns}`,
          addrs: [`${WORKLOAD_GATEWAY}/32`],
        })),
      ],
      routes: n.workloads.map((w) => ({
        dst: w.ip,
        dev: w.hostInterface,
        spec: `${w.ip}/32 dev ${w.hostInterface} scope link src ${n.underlayIp}`,
      })),
    })
    for (const w of n.workloads) {
      out.push({
        name: w.netns,
        sysctls: { ...NO_IPV6 },
        links: [lo, { name: 'eth0', kind: 'veth', addrs: [`${w.ip}/32`] }],
        routes: [
          {
            dst: 'default',
            dev: 'eth0',
            gateway: WORKLOAD_GATEWAY,
            spec: `default via ${WORKLOAD_GATEWAY} dev eth0 onlink`,
          },
        ],
      })
    }
  }
  return out
}

/**
 * The changes that bring `observed` (absent netns = not in the map) to `desired`. Links are
 * created from the host in one batch (each veth pair lands directly in its two namespaces); the
 * rest is set inside each netns. Nothing is removed: `down` is the only thing that removes.
 */
export function diffTopology(desired: DesiredNetns[], observed: Map<string, ObservedNetns>): TopologyChanges {
  const changes: TopologyChanges = {
    createNetns: [],
    sysctls: new Map(),
    hostBatch: [],
    netnsBatches: new Map(),
  }
  for (const ns of desired) {
    const seen = observed.get(ns.name)
    if (!seen) changes.createNetns.push(ns.name)
    const sysctls = Object.fromEntries(Object.entries(ns.sysctls).filter(([k, v]) => seen?.sysctls[k] !== v))
    if (Object.keys(sysctls).length > 0) changes.sysctls.set(ns.name, sysctls)

    const batch: string[] = []
    const links = new Map((seen?.links ?? []).map((l) => [l.name, l]))
    for (const want of ns.links) {
      const have = links.get(want.name)
      // a veth end that is missing is (re)created with its pair by the side that carries `create`
      if (!have && want.create) changes.hostBatch.push(want.create)
      if (want.master && have?.master !== want.master)
        batch.push(`link set ${want.name} master ${want.master}`)
      for (const addr of want.addrs) {
        if (!have?.addrs.includes(addr)) batch.push(`addr replace ${addr} dev ${want.name}${scopeOf(addr)}`)
      }
      if (!have?.up) batch.push(`link set ${want.name} up`)
    }
    for (const route of ns.routes) {
      const have = seen?.routes.find((r) => r.dst === route.dst)
      if (!have || have.dev !== route.dev || have.gateway !== route.gateway)
        batch.push(`route replace ${route.spec}`)
    }
    if (batch.length > 0) changes.netnsBatches.set(ns.name, batch)
  }
  return changes
}

export function changeCount(c: TopologyChanges): number {
  let n = c.createNetns.length + c.hostBatch.length
  for (const s of c.sysctls.values()) n += Object.keys(s).length
  for (const b of c.netnsBatches.values()) n += b.length
  return n
}

/** One line per kind of change, for `lab up`'s report. */
export function describeChanges(c: TopologyChanges): string[] {
  const out: string[] = []
  if (c.createNetns.length > 0) out.push(`netns created: ${c.createNetns.join(', ')}`)
  if (c.hostBatch.length > 0) out.push(`links created: ${c.hostBatch.length} (veth pairs and the bridge)`)
  if (c.sysctls.size > 0) out.push(`sysctls set in: ${[...c.sysctls.keys()].join(', ')}`)
  const created = c.createNetns.filter((ns) => c.netnsBatches.has(ns))
  if (created.length > 0) {
    const n = created.reduce((sum, ns) => sum + (c.netnsBatches.get(ns)?.length ?? 0), 0)
    out.push(`links, addresses and routes configured in the new netns: ${n} settings`)
  }
  // repairs of an existing netns are listed one by one
  for (const [ns, lines] of c.netnsBatches) {
    if (!c.createNetns.includes(ns)) out.push(`${ns}: ${lines.join('; ')}`)
  }
  return out
}

/** The gateway address is a link-scope /32 so the node never picks it as a source address. */
function scopeOf(addr: string): string {
  return addr === `${WORKLOAD_GATEWAY}/32` ? ' scope link' : ''
}

/** Parses the two JSON documents `ip -d -j -batch -` prints for "addr show" and "route show". */
export function parseIpObservation(stdout: string): Pick<ObservedNetns, 'links' | 'routes'> {
  const docs = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('['))
    .map((l) => JSON.parse(l) as unknown[])
  const [addrDoc = [], routeDoc = []] = docs
  const links = (addrDoc as IpAddrJson[]).map((l) => ({
    name: l.ifname,
    kind: l.linkinfo?.info_kind ?? (l.link_type === 'loopback' ? 'loopback' : 'unknown'),
    up: (l.flags ?? []).includes('UP'),
    ...(l.master ? { master: l.master } : {}),
    addrs: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
  }))
  const routes = (routeDoc as IpRouteJson[]).map((r) => ({
    dst: r.dst,
    ...(r.dev ? { dev: r.dev } : {}),
    ...(r.gateway ? { gateway: r.gateway } : {}),
  }))
  return { links, routes }
}

interface IpAddrJson {
  ifname: string
  flags?: string[]
  link_type?: string
  master?: string
  linkinfo?: { info_kind?: string }
  addr_info?: Array<{ local: string; prefixlen: number }>
}

interface IpRouteJson {
  dst: string
  dev?: string
  gateway?: string
}

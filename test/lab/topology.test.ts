import test from 'ava'
import { labPlan } from '../../daemon/lab/plan.js'
import {
  changeCount,
  type DesiredNetns,
  desiredTopology,
  diffTopology,
  type ObservedNetns,
  parseIpObservation,
} from '../../daemon/lab/topology.js'

const plan = labPlan({ nodes: 2, workloads: 1 })
const desired = desiredTopology(plan)

/** What a namespace looks like once `desired` has been applied to it. */
function built(ns: DesiredNetns): ObservedNetns {
  return {
    sysctls: { ...ns.sysctls },
    links: ns.links.map((l) => ({
      name: l.name,
      kind: l.kind,
      up: true,
      ...(l.master ? { master: l.master } : {}),
      addrs: [...l.addrs],
    })),
    routes: ns.routes.map((r) => ({ dst: r.dst, dev: r.dev, ...(r.gateway ? { gateway: r.gateway } : {}) })),
  }
}

test('from nothing: every netns is created, each veth pair once, then configured inside', (t) => {
  const c = diffTopology(desired, new Map())
  t.deepEqual(c.createNetns, [
    'latch-underlay',
    'latch-node1',
    'latch-node1-w1',
    'latch-node2',
    'latch-node2-w1',
  ])
  t.deepEqual(c.hostBatch, [
    'link add latchbr0 netns latch-underlay type bridge',
    'link add eth0 netns latch-node1 type veth peer name latch-node1 netns latch-underlay',
    'link add lw1 netns latch-node1 type veth peer name eth0 netns latch-node1-w1',
    'link add eth0 netns latch-node2 type veth peer name latch-node2 netns latch-underlay',
    'link add lw1 netns latch-node2 type veth peer name eth0 netns latch-node2-w1',
  ])
  t.is(c.sysctls.get('latch-node1')?.['net.ipv4.ip_forward'], '1')
  t.deepEqual(c.netnsBatches.get('latch-node1-w1'), [
    'link set lo up',
    'addr replace 10.100.1.11/32 dev eth0',
    'link set eth0 up',
    'route replace default via 169.254.1.1 dev eth0 onlink',
  ])
  t.true(c.netnsBatches.get('latch-underlay')?.includes('link set latch-node2 master latchbr0'))
  t.true(c.netnsBatches.get('latch-node2')?.includes('addr replace 169.254.1.1/32 dev lw1 scope link'))
})

test('a fully built lab needs no change', (t) => {
  const observed = new Map(desired.map((ns) => [ns.name, built(ns)]))
  const c = diffTopology(desired, observed)
  t.is(changeCount(c), 0)
})

test('only what is missing is redone: a lost link, a down link, a lost route, a reset sysctl', (t) => {
  const observed = new Map(desired.map((ns) => [ns.name, built(ns)]))
  const node1 = observed.get('latch-node1')!
  node1.links = node1.links.filter((l) => l.name !== 'lw1')
  node1.routes = []
  node1.sysctls['net.ipv4.ip_forward'] = '0'
  observed.get('latch-node2')!.links.find((l) => l.name === 'eth0')!.up = false
  observed.delete('latch-node1-w1') // went with its veth peer
  const c = diffTopology(desired, observed)
  t.deepEqual(c.createNetns, ['latch-node1-w1'])
  t.deepEqual(c.hostBatch, ['link add lw1 netns latch-node1 type veth peer name eth0 netns latch-node1-w1'])
  t.deepEqual(c.sysctls.get('latch-node1'), { 'net.ipv4.ip_forward': '1' })
  t.deepEqual(c.netnsBatches.get('latch-node1'), [
    'addr replace 169.254.1.1/32 dev lw1 scope link',
    'link set lw1 up',
    'route replace 10.100.1.11/32 dev lw1 scope link src 10.99.0.11',
  ])
  t.deepEqual(c.netnsBatches.get('latch-node2'), ['link set eth0 up'])
  t.false(c.netnsBatches.has('latch-underlay'))
})

test('ip -j batch output is read into links, addresses and routes', (t) => {
  const addr = [
    {
      ifname: 'lo',
      flags: ['LOOPBACK', 'UP'],
      link_type: 'loopback',
      addr_info: [{ local: '127.0.0.1', prefixlen: 8 }],
    },
    {
      ifname: 'eth0',
      flags: ['BROADCAST', 'UP', 'LOWER_UP'],
      master: 'latchbr0',
      linkinfo: { info_kind: 'veth' },
      addr_info: [{ local: '10.99.0.11', prefixlen: 24 }],
    },
    { ifname: 'lw1', flags: ['BROADCAST'], linkinfo: { info_kind: 'veth' } },
  ]
  const route = [
    { dst: 'default', gateway: '169.254.1.1', dev: 'eth0', flags: ['onlink'] },
    { dst: '10.100.1.11', dev: 'lw1' },
  ]
  const parsed = parseIpObservation(`${JSON.stringify(addr)}\n${JSON.stringify(route)}\n`)
  t.deepEqual(parsed.links, [
    { name: 'lo', kind: 'loopback', up: true, addrs: ['127.0.0.1/8'] },
    { name: 'eth0', kind: 'veth', up: true, master: 'latchbr0', addrs: ['10.99.0.11/24'] },
    { name: 'lw1', kind: 'veth', up: false, addrs: [] },
  ])
  t.deepEqual(parsed.routes, [
    { dst: 'default', dev: 'eth0', gateway: '169.254.1.1' },
    { dst: '10.100.1.11', dev: 'lw1' },
  ])
  t.deepEqual(parseIpObservation('[]\n[]\n'), { links: [], routes: [] })
})

/**
 * The datapath on real forwarded packets, in network namespaces of its own (latch-dp<pid>-*):
 *
 *   w (workload 10.200.1.11) --veth-- [lw1]  n (node, programs on lw1)  [ltun] --veth-- r (remote 10.200.2.11)
 *                                                                        [lund] --veth-- u (underlay host)
 *
 * `ltun` plays the WireGuard interface: the remote workload's ipcache entry requires it as ingress
 * interface, which proves the mechanism of latch_abi.h: on the veth's egress, ingress_ifindex is
 * the interface the forwarded packet was received on. The maps are pinned in bpffs, which is not
 * per netns, so this process edits them while the programs run inside `n`. A policy rule allows
 * remote → workload throughout: what passes or not here is decided by the auth entry.
 */
import test from 'ava'
import { execa } from 'execa'
import { Datapath } from '../../daemon/datapath/index.js'
import { testPinDir } from '../bpf/fixture.js'

const P = `latch-dp${process.pid % 100000}`
const NS = { w: `${P}-w`, n: `${P}-n`, r: `${P}-r`, u: `${P}-u` }
const PIN = testPinDir('netns')
const W = '10.200.1.11'
const R = '10.200.2.11'
const U = '10.200.9.9'
const W_ID = 1
const R_ID = 2
let dp: Datapath | undefined

const ip = (...args: string[]) => execa('ip', args)
const inNs = (ns: string, cmd: string, ...args: string[]) => execa('ip', ['netns', 'exec', ns, cmd, ...args])

/** One veth between namespace `a` (named ifA) and `b` (named ifB). */
async function veth(a: string, ifA: string, b: string, ifB: string): Promise<void> {
  await ip('link', 'add', 'latchtmp0', 'type', 'veth', 'peer', 'name', 'latchtmp1')
  await ip('link', 'set', 'latchtmp0', 'netns', a, 'name', ifA)
  await ip('link', 'set', 'latchtmp1', 'netns', b, 'name', ifB)
  await ip('-n', a, 'link', 'set', ifA, 'up')
  await ip('-n', b, 'link', 'set', ifB, 'up')
}

async function ifindex(ns: string, name: string): Promise<number> {
  const r = await ip('-n', ns, '-j', 'link', 'show', name)
  return (JSON.parse(r.stdout) as { ifindex: number }[])[0]!.ifindex
}

async function sysctl(ns: string, ...settings: string[]): Promise<void> {
  for (const s of settings) await inNs(ns, 'sysctl', '-qw', s)
}

const GATEWAY = '169.254.1.1'

/** A host namespace with one /32 address on eth0 and everything routed to the node's gateway. */
async function host(ns: string, addr: string): Promise<void> {
  await ip('-n', ns, 'addr', 'add', `${addr}/32`, 'dev', 'eth0')
  await ip('-n', ns, 'link', 'set', 'lo', 'up')
  await ip('-n', ns, 'route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0', 'onlink')
}

test.before(async () => {
  for (const ns of Object.values(NS)) await ip('netns', 'add', ns)
  await veth(NS.w, 'eth0', NS.n, 'lw1')
  await veth(NS.r, 'eth0', NS.n, 'ltun')
  await veth(NS.u, 'eth0', NS.n, 'lund')
  await host(NS.w, W)
  await host(NS.r, R)
  await host(NS.u, U)
  for (const i of ['lw1', 'ltun', 'lund']) await ip('-n', NS.n, 'addr', 'add', `${GATEWAY}/32`, 'dev', i)
  await ip('-n', NS.n, 'route', 'add', `${W}/32`, 'dev', 'lw1')
  await ip('-n', NS.n, 'route', 'add', '10.200.2.0/24', 'dev', 'ltun')
  await ip('-n', NS.n, 'route', 'add', `${U}/32`, 'dev', 'lund')
  await sysctl(
    NS.n,
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    ...['lw1', 'ltun', 'lund'].map((i) => `net.ipv4.conf.${i}.rp_filter=0`),
  )
  for (const ns of [NS.w, NS.r, NS.u])
    await sysctl(ns, 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0')

  Datapath.unpin(PIN)
  // nsenter switches only the network namespace: `ip netns exec` would also remount /sys and hide
  // the bpffs at /sys/fs/bpf that holds the pins
  const attached = await execa('nsenter', [
    `--net=/run/netns/${NS.n}`,
    'node',
    '--import=tsx',
    'test/datapath/netns-attach.ts',
    PIN,
    'lw1',
  ])
  if (!attached.stdout.includes('"attached"')) throw new Error(`attach in ${NS.n} said ${attached.stdout}`)
  dp = Datapath.openPinned({ pinDir: PIN })
  dp.endpoints.set({ ifindex: await ifindex(NS.n, 'lw1'), identity: W_ID, addrs: [W] })
  dp.ipcache.upsert([
    { prefix: W, identity: W_ID, scope: 'local', ifindex: await ifindex(NS.n, 'lw1') },
    { prefix: '10.200.2.0/24', identity: R_ID, scope: 'remote', ifindex: await ifindex(NS.n, 'ltun') },
  ])
  // the policy allows remote → workload on any port; the auth entry is what the tests add and remove
  dp.policy.set([{ srcId: R_ID, dstId: W_ID, any: true, ranges: [] }])
})

test.after.always(async () => {
  dp?.close()
  for (const ns of Object.values(NS)) await ip('netns', 'del', ns).catch(() => undefined)
  Datapath.unpin(PIN)
})

const count = (name: string): number => Number(dp!.stats.read()[name]?.packets ?? 0n)

async function ping(ns: string, dst: string, ...extra: string[]): Promise<boolean> {
  const r = await execa(
    'ip',
    ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', '1', '-W', '1', ...extra, dst],
    {
      reject: false,
    },
  )
  return r.exitCode === 0
}

async function tcpConnects(): Promise<boolean> {
  const server = execa(
    'ip',
    ['netns', 'exec', NS.w, 'socat', '-T', '3', 'TCP-LISTEN:7000,reuseaddr', 'SYSTEM:echo latch'],
    {
      reject: false,
    },
  )
  try {
    await new Promise((r) => setTimeout(r, 200))
    const client = await execa(
      'ip',
      ['netns', 'exec', NS.r, 'socat', '-T', '2', '-', `TCP:${W}:7000,connect-timeout=2`],
      { reject: false, input: '' },
    )
    return client.exitCode === 0 && client.stdout.includes('latch')
  } finally {
    server.kill()
    await server
  }
}

test.serial('without an auth entry the remote workload gets nothing through', async (t) => {
  const before = count('drop_no_auth')
  t.false(await ping(NS.r, W))
  t.false(await tcpConnects())
  t.true(count('drop_no_auth') - before >= 2)
})

test.serial('with an auth entry for (remote, workload) ICMP and TCP flow', async (t) => {
  dp!.auth.set([{ srcId: R_ID, dstId: W_ID, expiresAt: new Date(Date.now() + 60_000) }])
  const before = count('allowed')
  t.true(await ping(NS.r, W))
  t.true(await tcpConnects())
  t.true(count('allowed') - before >= 2)
})

test.serial("the remote workload's address injected from the underlay is dropped", async (t) => {
  await ip('-n', NS.u, 'addr', 'add', `${R}/32`, 'dev', 'eth0')
  const before = count('drop_not_via_tunnel')
  await ping(NS.u, W, '-I', R)
  t.is(count('drop_not_via_tunnel') - before, 1)
})

test.serial('a workload sending from an address that is not its own is dropped', async (t) => {
  await ip('-n', NS.w, 'addr', 'add', '10.200.1.99/32', 'dev', 'eth0')
  const before = count('drop_spoofed')
  t.false(await ping(NS.w, R, '-I', '10.200.1.99'))
  t.true(count('drop_spoofed') - before >= 1)
})

test.serial('deleting the auth entry stops the flow at once', async (t) => {
  t.is(dp!.auth.delete([{ srcId: R_ID, dstId: W_ID }]), 1)
  t.false(await ping(NS.r, W))
})

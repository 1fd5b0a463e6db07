/**
 * The daemon's pair service on loopback: two services (node1 hosts web, node2 hosts db) with real
 * PKI, real policy files (hot-reloaded), real SVID issuance and the real pair-auth TLS, writing into
 * an in-memory datapath. Allowed pairs get entries both ways on both nodes; a pair removed from the
 * file is revoked; an invalid edit is rejected with FILE:LINE:COL in status and entries stay; an
 * auth-required event dials at once; a renewed SVID is presented by the next handshake.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import pino from 'pino'
import { daemonPkiFiles } from '../../certs/layout.js'
import { configSchema } from '../../daemon/config/schema.js'
import { PairService } from '../../daemon/node/pair-service.js'
import type { PeerSnapshot } from '../../daemon/node/peer.js'
import { API, DB, PairPki, TD, WEB } from '../pairauth/fixture.js'
import { MemoryDatapath } from './memory-datapath.js'

let pki: PairPki
let dir: string

test.before(async () => {
  pki = await PairPki.create()
  dir = await mkdtemp(join(tmpdir(), 'latch-pairsvc-'))
})
test.after.always(async () => {
  await pki?.remove()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const policyText = (rules: [string, string][]) =>
  rules.length === 0
    ? `version: 1\ntrustDomain: ${TD}\nallow: []\n`
    : `version: 1\ntrustDomain: ${TD}\nallow:\n${rules.map(([f, t]) => `  - from: ${f}\n    to: ${t}\n`).join('')}`

function waitFor(what: string, f: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = async () => {
      if (await f()) resolve()
      else if (Date.now() > until) reject(new Error(`timed out waiting for ${what}`))
      else setTimeout(tick, 20)
    }
    void tick()
  })
}

interface Node {
  svc: PairService
  dp: MemoryDatapath
  logs: string[]
  /** what this node's mesh says about its peer: tests change it and call svc.refresh() */
  peer: PeerSnapshot
}

async function node(
  name: 'node1' | 'node2',
  policyFile: string,
  workload: { id: string; ip: string },
  peer: { name: string; workload: { id: string; ip: string } },
  port: number,
  sub: string,
  alsoLocal: Array<{ id: string; ip: string; name: string }> = [],
): Promise<Node> {
  const n = pki.node(name)
  const other = pki.node(peer.name)
  const wdir = join(dir, sub, name)
  const config = configSchema.parse({
    node: name,
    trustDomain: TD,
    pki: daemonPkiFiles(pki.dir, name),
    listen: { address: n.address },
    workloadCidrs: [n.cidr],
    wireguard: { address: `${n.address}/32`, privateKeyFile: join(wdir, 'wg.key') },
    peersFile: join(wdir, 'peers.yaml'),
    workloads: [
      {
        id: workload.id,
        ips: [workload.ip],
        certFile: join(wdir, 'svid.crt'),
        keyFile: join(wdir, 'svid.key'),
      },
      ...alsoLocal.map((w) => ({
        id: w.id,
        ips: [w.ip],
        certFile: join(wdir, `${w.name}.crt`),
        keyFile: join(wdir, `${w.name}.key`),
      })),
    ],
    policyFile,
    pairAuth: { port },
    svidTtl: '1h',
  })
  const logs: string[] = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => logs.push(s) })
  const dp = new MemoryDatapath()
  const peerSnapshot = {
    name: peer.name,
    address: other.address,
    port: 7443,
    role: 'dialer',
    state: 'established',
    tunnel: 'up',
    rotations: 0,
    tunnelAddress: `${other.address}/32`,
    workloadCidrs: [other.cidr],
    workloads: [{ id: peer.workload.id, ips: [peer.workload.ip] }],
  } as PeerSnapshot
  const svc = new PairService({
    config,
    logger,
    rootPem: pki.rootPem,
    node: { certPem: n.certPem, keyPem: n.keyPem },
    peers: () => [peerSnapshot],
    datapath: dp,
    // loopback addresses, no WireGuard interface to bind to
    bindToWireguard: false,
  })
  return { svc, dp, logs, peer: peerSnapshot }
}

async function pair(sub: string, port: number, rules: [string, string][]) {
  const policyFile = join(dir, sub, 'policy.yaml')
  await mkdir(join(dir, sub, 'node1'), { recursive: true })
  await mkdir(join(dir, sub, 'node2'), { recursive: true })
  await writeFile(policyFile, policyText(rules))
  const web = { id: WEB, ip: '10.100.1.11' }
  const db = { id: DB, ip: '10.100.2.11' }
  const a = await node('node1', policyFile, web, { name: 'node2', workload: db }, port, sub)
  const b = await node('node2', policyFile, db, { name: 'node1', workload: web }, port, sub)
  await a.svc.start()
  await b.svc.start()
  return { a, b, policyFile }
}

test('an allowed pair gets auth entries both ways on both nodes, with the remote IPs from the SVID', async (t) => {
  const { a, b } = await pair('allowed', 17444, [[WEB, DB]])
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await waitFor('entries on both nodes', () => [a, b].every((n) => n.dp.has(WEB, DB) && n.dp.has(DB, WEB)))
  t.deepEqual(a.dp.remote.get(DB), ['10.100.2.11'])
  t.deepEqual(b.dp.remote.get(WEB), ['10.100.1.11'])
  const st = await a.svc.status()
  t.is(st.pairs.length, 1)
  t.is(st.pairs[0]?.state, 'authenticated')
  t.is(st.authEntries.length, 2)
  t.is(st.identities[0]?.id, WEB)
  t.truthy(st.identities[0]?.notAfter)
})

test('removing the pair from the file revokes both directions on both nodes; adding it back restores them', async (t) => {
  const { a, b, policyFile } = await pair('remove', 17445, [[WEB, DB]])
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await waitFor('entries', () => [a, b].every((n) => n.dp.has(WEB, DB) && n.dp.has(DB, WEB)))
  await writeFile(policyFile, policyText([]))
  const removedAt = Date.now()
  await waitFor('revocation', () => [a, b].every((n) => n.dp.auth.size === 0), 3000)
  t.true(Date.now() - removedAt < 1000, `revoked after ${Date.now() - removedAt} ms`)
  // no authenticated pair proves the remote identity's IPs any more: its ipcache entries go too
  await waitFor('ipcache cleared', () => [a, b].every((n) => n.dp.remote.size === 0), 3000)
  await writeFile(policyFile, policyText([[DB, WEB]]))
  await waitFor('restored', () => [a, b].every((n) => n.dp.has(WEB, DB) && n.dp.has(DB, WEB)), 3000)
  t.pass()
})

test('an allowed pair of two workloads on one node gets auth entries both ways without a handshake; removing its rule removes them', async (t) => {
  const sub = 'same-node'
  const policyFile = join(dir, sub, 'policy.yaml')
  await mkdir(join(dir, sub, 'node1'), { recursive: true })
  await writeFile(policyFile, policyText([[WEB, API]]))
  const a = await node(
    'node1',
    policyFile,
    { id: WEB, ip: '10.100.1.11' },
    { name: 'node2', workload: { id: DB, ip: '10.100.2.11' } },
    17450,
    sub,
    [{ id: API, ip: '10.100.1.12', name: 'api' }],
  )
  t.teardown(() => a.svc.stop())
  await a.svc.start()
  await waitFor('same-node entries', () => a.dp.has(WEB, API) && a.dp.has(API, WEB))
  t.is(a.dp.remote.size, 0, 'a same-node pair proves no remote addresses')
  t.false(a.dp.has(WEB, DB), 'the policy allows nothing towards node2')
  const st = await a.svc.status()
  const notAfter = st.identities.map((i) => Date.parse(String(i.notAfter)))
  t.is(a.dp.auth.get(`${WEB} ${API}`)?.getTime(), Math.min(...notAfter), "until the earlier SVID's notAfter")
  // status lists it as a same-node pair (no handshake planned: no pair towards node2)
  t.deepEqual(st.pairs, [
    {
      local: [WEB, API].sort()[0]!,
      remote: [WEB, API].sort()[1]!,
      node: 'node1',
      initiator: false,
      sameNode: true,
      state: 'authenticated',
      expiresAt: new Date(Math.min(...notAfter)).toISOString(),
      failures: 0,
    },
  ])
  await writeFile(policyFile, policyText([[DB, WEB]]))
  await waitFor('same-node entries removed', () => !a.dp.has(WEB, API) && !a.dp.has(API, WEB), 3000)
  await writeFile(policyFile, policyText([[API, WEB]]))
  await waitFor('restored by the rule the other way', () => a.dp.has(WEB, API) && a.dp.has(API, WEB), 3000)
  t.pass()
})

test('a peer in grace (session lost, tunnel kept) keeps its pairs and entries; when the tunnel goes, they go', async (t) => {
  const { a, b } = await pair('grace', 17449, [[WEB, DB]])
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await waitFor('entries', () => a.dp.has(WEB, DB) && a.dp.has(DB, WEB))
  // node2's daemon restarts: node1's mesh keeps the tunnel and the last session's facts
  a.peer.state = 'backoff'
  a.peer.tunnel = 'grace'
  a.svc.refresh()
  await new Promise((r) => setTimeout(r, 200))
  t.true(a.dp.has(WEB, DB) && a.dp.has(DB, WEB), 'auth entries kept during the grace')
  t.deepEqual(a.dp.remote.get(DB), ['10.100.2.11'], 'ipcache kept during the grace')
  t.false(
    a.dp.calls.some((c) => c.startsWith('revoke') || c.startsWith('remove')),
    a.dp.calls.join('\n'),
  )
  t.is((await a.svc.status()).pairs[0]?.state, 'authenticated')
  // the grace ends without the peer: the tunnel is removed and the snapshot has no session facts
  a.peer.state = 'backoff'
  a.peer.tunnel = 'down'
  for (const k of ['tunnelAddress', 'workloadCidrs', 'workloads'] as const) delete a.peer[k]
  a.svc.refresh()
  await waitFor('revocation', () => !a.dp.has(WEB, DB) && !a.dp.has(DB, WEB), 3000)
  await waitFor('ipcache removed', () => !a.dp.remote.has(DB), 3000)
  t.is((await a.svc.status()).pairs.length, 0)
})

test('an invalid edit is rejected with FILE:LINE:COL in status and the logs; entries stay', async (t) => {
  const { a, b, policyFile } = await pair('invalid', 17446, [[WEB, DB]])
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await waitFor('entries', () => a.dp.has(WEB, DB))
  await writeFile(policyFile, `${policyText([[WEB, DB]])}  - from: not-a-spiffe-id\n    to: ${DB}\n`)
  await waitFor('rejection in status', async () => (await a.svc.status()).policy.error !== undefined)
  const st = await a.svc.status()
  t.is(st.policy.error?.code, 'LATCH_ERR_POLICY_INVALID')
  t.is(st.policy.error?.problems?.[0]?.line, 6) // the line of the malformed `from:`
  t.true(a.logs.some((l) => l.includes('policy_rejected')))
  t.true(a.dp.has(WEB, DB) && a.dp.has(DB, WEB))
  t.is(st.pairs[0]?.state, 'authenticated')
})

test('an auth-required event for an already authenticated pair starts no handshake', async (t) => {
  const { a, b } = await pair('demand', 17447, [[WEB, DB]])
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await waitFor('entries on both nodes', () => [a, b].every((n) => n.dp.has(WEB, DB) && n.dp.has(DB, WEB)))
  // both nodes dial at start (one of them retries until the other listens): wait until no handshake
  // is still in flight, i.e. the authorize count holds still for 300 ms, before the event
  const authorizes = () => a.dp.calls.filter((c) => c.startsWith('authorize')).length
  let before = authorizes()
  for (;;) {
    await new Promise((r) => setTimeout(r, 300))
    const now = authorizes()
    if (now === before) break
    before = now
  }
  a.dp.emit({ src: DB, dst: WEB, srcIp: '10.100.2.11', dstIp: '10.100.1.11', proto: 6 })
  // the pair is authenticated, so a demand is a no-op (no storm of handshakes on drops)
  await new Promise((r) => setTimeout(r, 200))
  t.is(authorizes(), before)
})

test('a packet from a remote workload with no identity yet resolves to it from the inventory and starts the handshake', async (t) => {
  // node2 (db) would initiate but its view of node1 lists no workload yet, so only node1 plans the
  // pair, as the responder (it waits its grace before dialing). The kernel drops db's first packet as
  // drop_unknown_source with an auth-required event that has no identity: node1 resolves 10.100.2.11
  // from node2's checked inventory (node2's CIDR holds it) and dials now.
  const sub = 'demand-unknown'
  const policyFile = join(dir, sub, 'policy.yaml')
  await mkdir(join(dir, sub, 'node1'), { recursive: true })
  await mkdir(join(dir, sub, 'node2'), { recursive: true })
  await writeFile(policyFile, policyText([[WEB, DB]]))
  const web = { id: WEB, ip: '10.100.1.11' }
  const db = { id: DB, ip: '10.100.2.11' }
  const a = await node('node1', policyFile, web, { name: 'node2', workload: db }, 17453, sub)
  const b = await node('node2', policyFile, db, { name: 'node1', workload: web }, 17453, sub)
  b.peer.workloads = []
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await a.svc.start()
  await b.svc.start()
  t.false(a.dp.has(WEB, DB))
  // not through the tunnel, or an address no inventory lists: nothing is resolved, nothing dialed
  a.dp.emit({ dst: WEB, srcIp: '10.100.2.11', dstIp: '10.100.1.11', proto: 6 })
  a.dp.emit({ dst: WEB, srcIp: '10.100.2.99', dstIp: '10.100.1.11', proto: 6, viaTunnel: true })
  a.dp.emit({ dst: WEB, srcIp: '10.100.3.11', dstIp: '10.100.1.11', proto: 6, viaTunnel: true })
  t.false(a.logs.some((l) => l.includes('pair_demand_resolved')))
  a.dp.emit({ dst: WEB, srcIp: '10.100.2.11', dstIp: '10.100.1.11', proto: 6, dport: 5432, viaTunnel: true })
  const resolved = a.logs.filter((l) => l.includes('pair_demand_resolved')).map((l) => JSON.parse(l))
  t.is(resolved.length, 1)
  t.like(resolved[0], { srcIp: '10.100.2.11', remote: DB, local: WEB })
  await waitFor('entries after the on-demand handshake', () => a.dp.has(WEB, DB) && a.dp.has(DB, WEB))
  t.is((await a.svc.status()).pairs.find((p) => p.remote === DB)?.state, 'authenticated')
})

test('a renewed SVID is what the next handshake presents', async (t) => {
  const { a, b } = await pair('renew', 17448, [[WEB, DB]])
  t.teardown(async () => {
    await a.svc.stop()
    await b.svc.stop()
  })
  await waitFor('entries', () => a.dp.has(WEB, DB))
  const before = (await a.svc.status()).identities[0]?.fingerprint
  await a.svc.renewNow(WEB)
  const after = (await a.svc.status()).identities[0]?.fingerprint
  t.truthy(before)
  t.not(after, before)
  t.true(a.dp.has(WEB, DB), 'existing entries stay')
})

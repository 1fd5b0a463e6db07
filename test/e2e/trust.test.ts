/**
 * The trust lifecycle in a 3-node lab with real daemons and eBPF enforcement (issue 12), under a
 * running TCP stream (node1-w1 → node3-w1) and a UDP stream (node2-w1 → node3-w1): node certificate
 * renewal, intermediate renewal and a full root rotation (rotate, re-issue every node, retire) are
 * taken by the running daemons without a restart; both streams arrive complete (bytes and SHA-256
 * equal at both ends) with no gap over 1 s, and the pairs are re-authenticated under the new root
 * after the old one is retired. Then revocation: a workload (its pairs cut) and a node (its tunnel
 * removed, its next handshake refused), each within 1 s of the list reaching the nodes.
 */
import { X509Certificate } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import test from 'ava'
import { caPaths, nodePaths } from '../../certs/layout.js'
import { fetchStatus } from '../../daemon/control/client.js'
import { LAB_REVOCATION_FILE } from '../../daemon/lab/policy.js'
import type { StatusReport } from '../../daemon/wire/status.js'
import { labExec, useLab } from './helpers/lab.js'
import { until } from './helpers/poll.js'
import { tcpStream, udpStream } from './trust-traffic.js'

const CLI = join(process.cwd(), 'dist', 'daemon', 'cli', 'main.js')
const lab = useLab(test, { nodes: 3, workloads: 2, enforce: true, pairAuthTtl: '30s' })
const NODES = ['node1', 'node2', 'node3'] as const
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The node's status over its control socket (in-process: polling stays cheap). */
function status(node: string): Promise<StatusReport> {
  return fetchStatus(lab().node(node).controlSocket, 5000)
}

async function pki(args: string[]): Promise<void> {
  const r = await labExec('node1', [process.execPath, CLI, ...args, '--dir', lab().plan.pkiDir])
  if (r.exitCode !== 0) throw new Error(`latchctl ${args.join(' ')}: ${r.stderr}`)
}

const serialOf = async (file: string, index = 0) => {
  const blocks =
    (await readFile(file, 'utf8')).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ??
    []
  return new X509Certificate(blocks[index] ?? '').serialNumber.toLowerCase()
}

/** Every node runs `kind` with this serial (and, for the bundle, this many roots). */
async function allRun(
  kind: 'node' | 'intermediate' | 'root',
  node: string | undefined,
  serial: string,
  roots?: number,
) {
  for (const n of node ? [node] : NODES) {
    await until(`${n} to run the ${kind} ${serial}`, async () => {
      const t = (await status(n)).trust
      const has = t?.credentials.some((c) => c.kind === kind && c.serial === serial) ?? false
      return has && (roots === undefined || t?.credentials.filter((c) => c.kind === 'root').length === roots)
    })
  }
}

/** Every peer of `node` (both directions) completed a handshake after `since`. */
async function rehandshaked(node: string, since: number): Promise<void> {
  for (const n of NODES) {
    if (n === node) continue
    await until(`${n} to re-authenticate ${node} after the change`, async () => {
      const p = (await status(n)).peers.find((x) => x.name === node)
      return p?.state === 'established' && Date.parse(p.lastHandshakeAt ?? '0') >= since
    })
  }
}

async function pairsAuthenticated(node: string, after = 0): Promise<boolean> {
  const pairs = (await status(node)).pairAuth?.pairs ?? []
  return (
    pairs.length > 0 &&
    pairs.every((p) => p.state === 'authenticated' && Date.parse(p.expiresAt ?? '0') > after)
  )
}

interface LogLine {
  /** epoch ms (the lab's latchd writes ISO text; log() converts it) */
  time: number
  event?: string
  [k: string]: unknown
}
async function log(node: string): Promise<LogLine[]> {
  const text = await readFile(lab().node(node).logFile, 'utf8')
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine & { time: number | string })
    .map((l) => ({ ...l, time: typeof l.time === 'number' ? l.time : Date.parse(l.time) }))
}

test.serial(
  'node renewal, intermediate renewal and a full root rotation under TCP and UDP streams: nothing lost, no gap over 1 s',
  async (t) => {
    t.timeout(300_000)
    await until(
      'every pair authenticated',
      async () => (await Promise.all(NODES.map((n) => pairsAuthenticated(n)))).every(Boolean),
      60_000,
    )
    // under the lab's state dir: visible in every node's mount namespace
    const stop = join(dirname(LAB_REVOCATION_FILE), 'trust-e2e-stop')
    await rm(stop, { force: true })
    t.teardown(() => rm(stop, { force: true }))
    const tcp = await tcpStream(lab(), 'node1-w1', 'node3-w1', 400, stop)
    const udp = await udpStream(lab(), 'node2-w1', 'node3-w1', 400, stop)
    await sleep(2000)
    const dir = lab().plan.pkiDir
    const steps: string[] = []

    // 1. node certificate renewal (node3: an acceptor of both its peers)
    let since = Date.now()
    await pki(['node', 'renew', 'node3', '--only', 'cert'])
    await allRun('node', 'node3', await serialOf(nodePaths(dir, 'node3').cert))
    await rehandshaked('node3', since)
    steps.push(`node3 certificate renewed in ${Date.now() - since} ms`)
    await sleep(3000)

    // 2. intermediate renewal (node1: the dialer of both); its SVIDs are renewed from the new intermediate
    since = Date.now()
    await pki(['node', 'renew', 'node1', '--only', 'intermediate'])
    await allRun('intermediate', 'node1', await serialOf(nodePaths(dir, 'node1').caCert))
    await rehandshaked('node1', since)
    steps.push(`node1 intermediate renewed in ${Date.now() - since} ms`)
    await sleep(3000)

    // 3. full root rotation: a second root everywhere, every node re-issued from it, the old one retired
    since = Date.now()
    await pki(['ca', 'rotate'])
    const newRoot = await serialOf(caPaths(dir).cert, 0)
    await allRun('root', undefined, newRoot, 2)
    for (const n of NODES) {
      const at = Date.now()
      await pki(['node', 'renew', n])
      await allRun('node', n, await serialOf(nodePaths(dir, n).cert))
      await rehandshaked(n, at)
    }
    const retireAt = Date.now()
    await pki(['ca', 'retire'])
    await allRun('root', undefined, newRoot, 1)
    for (const n of NODES) await rehandshaked(n, retireAt)
    steps.push(`root rotated in ${Date.now() - since} ms`)
    // the pairs re-authenticate (2/3 of the 30 s TTL) with SVIDs chaining to the new root only
    await until(
      'every pair re-authenticated under the new root',
      async () =>
        (await Promise.all(NODES.map((n) => pairsAuthenticated(n, retireAt + 29_000)))).every(Boolean),
      45_000,
      1000,
    )
    steps.push(`pairs re-authenticated ${Date.now() - retireAt} ms after the retirement`)
    t.log(steps.join('; '))
    await sleep(2000)
    await writeFile(stop, 'stop\n')

    const [tr, ur] = await Promise.all([tcp(), udp()])
    t.log(
      `TCP ${tr.received.bytes} bytes, longest gap ${tr.received.maxGapSeconds} s; UDP ${ur.received.bytes} bytes, longest gap ${ur.received.maxGapSeconds} s`,
    )
    t.true(tr.sent.bytes > 1_000_000, 'the TCP stream ran')
    t.deepEqual({ bytes: tr.received.bytes, sha256: tr.received.sha256 }, tr.sent, 'TCP: every byte arrived')
    t.deepEqual(
      { bytes: ur.received.bytes, sha256: ur.received.sha256 },
      ur.sent,
      'UDP: every datagram arrived',
    )
    t.true(tr.received.maxGapSeconds < 1, `TCP gap ${tr.received.maxGapSeconds} s`)
    t.true(ur.received.maxGapSeconds < 1, `UDP gap ${ur.received.maxGapSeconds} s`)
    // no daemon restarted: each took its files by hot reload
    for (const n of NODES) {
      const s = await status(n)
      t.true((s.trust?.reloads ?? 0) >= 3, `${n} reloads ${s.trust?.reloads}`)
      t.is(s.trust?.rejected, undefined)
      t.true((await log(n)).filter((l) => l.event === 'started').length === 1, `${n} started once`)
    }
  },
)

test.serial(
  'a revoked workload loses its pairs and a revoked node its tunnel, each within 1 s of the list',
  async (t) => {
    t.timeout(120_000)
    const td = lab().plan.trustDomain
    const w2 = lab().workload('node1-w2').spiffeId
    const n2w2 = lab().workload('node2-w2').spiffeId
    await until(
      'node1-w2 ↔ node2-w2 authenticated',
      async () => {
        const pairs = (await status('node2')).pairAuth?.pairs ?? []
        return pairs.some((p) => p.remote === w2 && p.state === 'authenticated')
      },
      60_000,
    )

    // a workload
    const t0 = Date.now()
    await writeFile(
      LAB_REVOCATION_FILE,
      `version: 1\ntrustDomain: ${td}\nrevoked:\n  - spiffeId: ${w2}\n    reason: e2e\n`,
    )
    await until(
      'node2 to drop the auth entries of node1-w2',
      async () => {
        const auth = (await status('node2')).pairAuth?.authEntries ?? []
        return !auth.some((e) => e.src === w2 || e.dst === w2)
      },
      10_000,
      100,
    )
    for (const n of ['node1', 'node2']) {
      const find = async () =>
        (await log(n)).find(
          (l) =>
            l.event === 'pair_revoked' &&
            l.time >= t0 &&
            (l.local === w2 || l.remote === w2) &&
            (l.local === n2w2 || l.remote === n2w2),
        )
      // each node reads the list on its own: node2 having cut the pair says nothing of node1 yet
      // (the time asserted below is the node's own log time, not when this poll saw it)
      await until(`${n} to log pair_revoked`, async () => (await find()) !== undefined, 10_000, 100).catch(
        () => undefined,
      )
      const revoked = await find()
      t.truthy(revoked, `${n} logged pair_revoked`)
      t.true(
        (revoked?.time ?? Infinity) - t0 < 1000,
        `${n} cut the pair ${(revoked?.time ?? Infinity) - t0} ms after the list was written`,
      )
    }
    const ping = await labExec('node1-w2', ['ping', '-c', '2', '-W', '1', lab().workload('node2-w2').ip])
    t.not(ping.exitCode, 0, 'the revoked workload gets nothing through')

    // a node
    const t1 = Date.now()
    await writeFile(
      LAB_REVOCATION_FILE,
      `version: 1\ntrustDomain: ${td}\nrevoked:\n  - spiffeId: ${w2}\n  - node: node3\n    reason: e2e\n`,
    )
    await until(
      'node1 and node2 to remove node3',
      async () => {
        const ss = await Promise.all(['node1', 'node2'].map(status))
        return ss.every((s) => s.peers.find((p) => p.name === 'node3')?.tunnel === 'down')
      },
      10_000,
      100,
    )
    for (const n of ['node1', 'node2']) {
      const removed = (await log(n)).find(
        (l) => l.event === 'tunnel_removed' && l.peer === 'node3' && l.time >= t1,
      )
      t.truthy(removed, `${n} removed node3's tunnel`)
      t.true(
        (removed?.time ?? Infinity) - t1 < 1000,
        `${n} cut node3 ${(removed?.time ?? Infinity) - t1} ms after the list was written`,
      )
      const p = (await status(n)).peers.find((x) => x.name === 'node3')
      t.is(p?.refusal?.reason, 'cert_revoked')
    }
    // its next handshake is refused
    await until(
      'a handshake of node3 refused as revoked',
      async () =>
        (await log('node1')).some(
          (l) =>
            l.event === 'handshake_refused' &&
            l.peer === 'node3' &&
            l.time >= t1 &&
            String(l.reason).includes('revoked'),
        ),
      30_000,
      500,
    )
    const ping3 = await labExec('node1-w1', ['ping', '-c', '2', '-W', '1', lab().workload('node3-w1').ip])
    t.not(ping3.exitCode, 0, 'nothing reaches the revoked node')
    t.pass()
  },
)

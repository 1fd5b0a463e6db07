import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { parseConfig } from '../../daemon/config/index.js'
import { ControlServer, controlRequest, fetchStatus, formatStatus } from '../../daemon/control/index.js'
import type { PeerSnapshot } from '../../daemon/node/peer.js'
import { buildStatus } from '../../daemon/node/status-report.js'
import type { StatusReport } from '../../daemon/wire/status.js'

const run = promisify(execFile)

let dir: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-ctl-'))
})
test.after.always(async () => rm(dir, { recursive: true, force: true }))

const configInput = {
  node: 'node1',
  trustDomain: 'lab.latch',
  pki: {
    caFile: '/c',
    certFile: '/n',
    keyFile: '/k',
    intermediateCertFile: '/i',
    intermediateKeyFile: '/ik',
  },
  listen: { address: '10.99.0.11' },
  workloadCidrs: ['10.100.1.0/24'],
  wireguard: { address: '10.101.0.1/32', privateKeyFile: '/wg.key' },
  peersFile: '/peers.yaml',
  workloads: [{ id: 'spiffe://lab.latch/ns/lab/sa/node1-w1', ips: ['10.100.1.11'], interface: 'lw1' }],
}
const config = parseConfig(configInput, '/x.yaml')

const now = new Date('2030-01-01T00:10:00Z')
const peers: PeerSnapshot[] = [
  {
    name: 'node2',
    address: '10.99.0.12',
    port: 7443,
    role: 'dialer',
    state: 'established',
    tunnel: 'up',
    rotations: 4,
    lastHandshakeAt: new Date('2030-01-01T00:09:30Z'),
    endpoint: '10.99.0.12:51820',
    tunnelAddress: '10.101.0.2/32',
    wgPublicKey: 'B'.repeat(43) + '=',
    workloadCidrs: ['10.100.2.0/24'],
    workloads: [],
  },
  {
    name: 'node3',
    address: '10.99.0.13',
    port: 7443,
    role: 'dialer',
    state: 'refused',
    tunnel: 'down',
    rotations: 0,
    refusal: {
      reason: 'cert_unknown_issuer',
      message: 'no trusted root issued "CN=node3"',
      by: 'local',
      at: new Date('2030-01-01T00:09:59Z'),
      unverified: true,
    },
    nextAttemptAt: new Date('2030-01-01T00:10:04Z'),
  },
]

function report(): StatusReport {
  return buildStatus({
    config,
    spiffeId: 'spiffe://lab.latch/latch/node/node1',
    wgPublicKey: 'A'.repeat(43) + '=',
    startedAt: new Date('2030-01-01T00:00:00Z'),
    ready: true,
    now,
    peers,
    wireguard: {
      interface: 'latch0',
      backend: 'kernel',
      publicKey: 'A'.repeat(43) + '=',
      peers: [
        {
          publicKey: 'B'.repeat(43) + '=',
          rxBytes: 2048,
          txBytes: 4096,
          hasPresharedKey: true,
          endpoint: '10.99.0.12:51820',
        },
        { publicKey: 'C'.repeat(43) + '=', rxBytes: 0, txBytes: 0, hasPresharedKey: false },
      ],
    },
  })
}

test('the status report has each peer with state, PSK age, counters and refusal', (t) => {
  const s = report()
  t.is(s.node, 'node1')
  t.is(s.uptimeSeconds, 600)
  const [p2, p3] = s.peers
  t.like(p2, {
    name: 'node2',
    state: 'established',
    pskAgeSeconds: 30,
    rotations: 4,
    endpoint: '10.99.0.12:51820',
  })
  t.deepEqual(p2!.wireguard, { rxBytes: 2048, txBytes: 4096, hasPresharedKey: true })
  t.like(p3!.refusal, { reason: 'cert_unknown_issuer', by: 'local', unverified: true })
  t.deepEqual(
    s.wireguard.unmanagedPeers.map((p) => p.publicKey),
    ['C'.repeat(43) + '='],
  )
  t.deepEqual(s.workloads, [
    { id: 'spiffe://lab.latch/ns/lab/sa/node1-w1', ips: ['10.100.1.11'], interface: 'lw1' },
  ])
  const text = formatStatus(s)
  t.deepEqual(s.transport, { kind: 'wireguard', interface: 'latch0', backend: 'kernel' })
  t.regex(text, /^ {2}listen 10\.99\.0\.11:7443 {2}wireguard \(kernel\) latch0 10\.101\.0\.1\/32 :51820 /m)
  t.regex(text, /node2\s+established\s+dialer\s+10\.99\.0\.12:51820/)
  t.regex(text, /2\.0 KiB\s+4\.0 KiB\s+yes/)
  t.regex(text, /this node refused node3 \(identity not proven\): cert_unknown_issuer/)
})

test('on an IPsec node status names the XFRM interface and its if_id, not a WireGuard interface', (t) => {
  const ipsec = parseConfig({ ...configInput, transport: 'ipsec' }, '/x.yaml')
  const s = buildStatus({
    config: ipsec,
    spiffeId: 'spiffe://lab.latch/latch/node/node1',
    wgPublicKey: 'A'.repeat(43) + '=',
    startedAt: new Date('2030-01-01T00:00:00Z'),
    ready: true,
    now,
    peers,
    wireguard: { interface: 'latchx0', backend: 'ipsec', publicKey: 'A'.repeat(43) + '=', peers: [] },
  })
  t.deepEqual(s.transport, { kind: 'ipsec', interface: 'latchx0', backend: 'ipsec', ifId: 0x4c41 })
  const text = formatStatus(s)
  t.regex(
    text,
    /^ {2}listen 10\.99\.0\.11:7443 {2}ipsec \(esp\) latchx0 if_id 0x4c41 10\.101\.0\.1\/32 {2}key /m,
  )
  t.notRegex(text, /wireguard|latch0\b/)
  t.regex(text, /ESP KEYS/)
})

test('status round-trips over the control socket, which is 0600', async (t) => {
  const path = join(dir, 'run', 'latchd.sock')
  const server = new ControlServer(path, async (req) =>
    req.cmd === 'ping' ? { ok: true, pong: true } : { ok: true, status: report() },
  )
  await server.listen()
  try {
    t.is((await stat(path)).mode & 0o777, 0o600)
    const s = await fetchStatus(path)
    t.deepEqual(s, JSON.parse(JSON.stringify(report())))
    t.deepEqual(await controlRequest(path, { cmd: 'ping' }), { ok: true, pong: true })
    // latchctl status itself, JSON and text
    const cli = ['--import=tsx', 'daemon/cli/main.ts', 'status', '--socket', path]
    const json = await run(process.execPath, [...cli, '--json'])
    t.is(JSON.parse(json.stdout).peers[0].name, 'node2')
    const text = await run(process.execPath, cli)
    t.regex(text.stdout, /PEER\s+STATE/)
  } finally {
    await server.close()
  }
})

test('bad requests get a typed error answer, and the connection carries several requests', async (t) => {
  const path = join(dir, 'bad.sock')
  const server = new ControlServer(path, async () => ({ ok: true, pong: true }))
  await server.listen()
  try {
    const { connect } = await import('node:net')
    const answers = await new Promise<string[]>((resolve) => {
      const s = connect(path)
      let buf = ''
      s.setEncoding('utf8')
      s.on('data', (d: string) => {
        buf += d
        const lines = buf.split('\n').filter(Boolean)
        if (lines.length === 3) {
          s.end()
          resolve(lines)
        }
      })
      s.write('not json\n{"cmd":"reboot"}\n{"cmd":"ping"}\n')
    })
    const [a, b, c] = answers.map((l) => JSON.parse(l))
    t.is(a.error.code, 'LATCH_ERR_CONTROL_PROTOCOL')
    t.regex(b.error.message, /commands: status, ping/)
    t.deepEqual(c, { ok: true, pong: true })
  } finally {
    await server.close()
  }
})

test('a missing daemon is LATCH_ERR_CONTROL_UNAVAILABLE, and latchctl exits 69', async (t) => {
  const path = join(dir, 'nobody.sock')
  t.true(isLatchError(await t.throwsAsync(fetchStatus(path)), 'LATCH_ERR_CONTROL_UNAVAILABLE'))
  const err = await t.throwsAsync(
    run(process.execPath, ['--import=tsx', 'daemon/cli/main.ts', 'status', '--socket', path]),
  )
  t.is((err as { code?: number }).code, 69)
  t.regex((err as { stderr?: string }).stderr ?? '', /LATCH_ERR_CONTROL_UNAVAILABLE/)
})

test('a stale socket is replaced, a live one is not stolen, a regular file is not deleted', async (t) => {
  // a crashed daemon leaves its socket file behind: bind without listening, then exit
  const stale = join(dir, 'stale.sock')
  await run('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`])
  t.true((await stat(stale)).isSocket())
  const s1 = new ControlServer(stale, async () => ({ ok: true, pong: true }))
  await s1.listen()
  t.deepEqual(await controlRequest(stale, { cmd: 'ping' }), { ok: true, pong: true })

  const s2 = new ControlServer(stale, async () => ({ ok: true, pong: true }))
  t.true(isLatchError(await t.throwsAsync(s2.listen()), 'LATCH_ERR_CONTROL_IN_USE'))
  t.deepEqual(
    await controlRequest(stale, { cmd: 'ping' }),
    { ok: true, pong: true },
    'the first still answers',
  )
  await s1.close()

  const file = join(dir, 'regular')
  await writeFile(file, 'keep me')
  const s3 = new ControlServer(file, async () => ({ ok: true, pong: true }))
  t.true(isLatchError(await t.throwsAsync(s3.listen()), 'LATCH_ERR_DAEMON_LISTEN_FAILED'))
  t.is((await stat(file)).size, 7)
})

test('close() lets a request in flight get its answer, tells a late one latchd is stopping, then ends', async (t) => {
  const { connect } = await import('node:net')
  const path = join(dir, 'graceful.sock')
  let release: () => void = () => undefined
  const slow = new Promise<void>((r) => {
    release = r
  })
  const server = new ControlServer(path, async (req) => {
    if (req.cmd === 'status') await slow
    return { ok: true, pong: true }
  })
  await server.listen()
  const lines: string[] = []
  const s = connect(path)
  s.setEncoding('utf8')
  let buf = ''
  const ended = new Promise<void>((resolve) => s.on('close', () => resolve()))
  s.on('data', (d: string) => {
    buf += d
    lines.push(...buf.split('\n').slice(0, -1))
    buf = buf.slice(buf.lastIndexOf('\n') + 1)
  })
  s.on('error', () => undefined)
  const idle = connect(path)
  const idleEnded = new Promise<void>((resolve) => idle.on('close', () => resolve()))
  idle.on('error', () => undefined)
  await new Promise<void>((r) => s.once('connect', () => r()))
  s.write('{"cmd":"status"}\n')
  await new Promise((r) => setTimeout(r, 100))
  const closed = server.close(5000)
  await new Promise((r) => setTimeout(r, 50))
  s.write('{"cmd":"ping"}\n')
  await new Promise((r) => setTimeout(r, 50))
  const refused = await controlRequest(path, { cmd: 'ping' }).catch((e: Error) => e)
  t.true(refused instanceof Error, 'no new connection while stopping')
  release()
  await closed
  await ended
  await idleEnded
  const [first, second] = lines.map((l) => JSON.parse(l))
  t.deepEqual(first, { ok: true, pong: true }, 'the request in flight got its answer')
  t.is(second?.error?.code, 'LATCH_ERR_CONTROL_UNAVAILABLE')
  t.regex(second?.error?.message ?? '', /stopping/)
})

test('close() does not wait past its grace for a request that never finishes', async (t) => {
  const { connect } = await import('node:net')
  const path = join(dir, 'stuck.sock')
  const server = new ControlServer(path, () => new Promise(() => undefined))
  await server.listen()
  const s = connect(path)
  s.on('error', () => undefined)
  const ended = new Promise<void>((resolve) => s.on('close', () => resolve()))
  await new Promise<void>((r) => s.once('connect', () => r()))
  s.write('{"cmd":"status"}\n')
  await new Promise((r) => setTimeout(r, 50))
  const t0 = Date.now()
  await server.close(300)
  await ended
  const took = Date.now() - t0
  t.true(took >= 250 && took < 3000, `closed after ${took} ms`)
})

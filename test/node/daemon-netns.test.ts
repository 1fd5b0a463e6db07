/**
 * Two real latchd processes, each in its own network namespace joined by a veth pair, with the real
 * engine (wireguard-go through `wg`): the handshake programs the same PSK on both sides, rotations
 * keep them equal and change them, ICMP flows through the tunnel without loss across rotations, a
 * SIGKILLed daemon's peer keeps the tunnel and the restarted daemon re-adopts its interface, status
 * works over the control socket, and no log line of either daemon contains key material.
 *
 * Root only; namespaces, links and processes are named latch-d1* / latchd1* and removed afterwards.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa, type ResultPromise } from 'execa'
import { stringify } from 'yaml'
import { daemonPkiFiles, nodePaths } from '../../certs/index.js'
import { fetchStatus } from '../../daemon/control/index.js'
import type { StatusReport } from '../../daemon/wire/status.js'
import { TestPki } from '../pki.js'

const ROOT = join(import.meta.dirname, '..', '..')
const NODES = [
  {
    name: 'alpha',
    netns: 'latch-d1a',
    veth: 'latchd1a0',
    ip: '10.98.0.1',
    wg: 'latchd1wa',
    tunnel: '10.96.0.1',
    cidr: '10.97.1.0/24',
  },
  {
    name: 'beta',
    netns: 'latch-d1b',
    veth: 'latchd1b0',
    ip: '10.98.0.2',
    wg: 'latchd1wb',
    tunnel: '10.96.0.2',
    cidr: '10.97.2.0/24',
  },
] as const
type Node = (typeof NODES)[number]

const isRoot = process.getuid?.() === 0
let dir: string
const daemons = new Map<string, { proc: ResultPromise; log: string[] }>()
const allLogs: string[] = []
/** Every PSK and private key seen during the run: none may appear in a log line. */
const allSecrets = new Set<string>()

function ns(n: Node, argv: string[]) {
  return execa('ip', ['netns', 'exec', n.netns, ...argv], { reject: false })
}

async function sh(argv: string[]): Promise<void> {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false })
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`)
}

async function cleanup(): Promise<void> {
  for (const d of daemons.values()) d.proc.kill('SIGKILL')
  for (const n of NODES) {
    // processes we started inside our namespaces (latchd, wireguard-go), by PID
    const pids = (await execa('ip', ['netns', 'pids', n.netns], { reject: false })).stdout
      .split(/\s+/)
      .filter(Boolean)
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
    await execa('ip', ['netns', 'del', n.netns], { reject: false })
    await execa('rm', ['-f', `/var/run/wireguard/${n.wg}.sock`], { reject: false })
  }
}

function configOf(n: Node): string {
  return stringify({
    node: n.name,
    trustDomain: 'd1.latch',
    pki: daemonPkiFiles(join(dir, 'pki'), n.name),
    listen: { address: n.ip, port: 7443 },
    workloadCidrs: [n.cidr],
    wireguard: {
      interface: n.wg,
      listenPort: 51820,
      address: `${n.tunnel}/32`,
      privateKeyFile: join(dir, `${n.name}.wgkey`),
      backend: 'userspace',
    },
    peersFile: join(dir, `${n.name}.peers.yaml`),
    controlSocket: join(dir, `${n.name}.sock`),
    workloads: [{ id: `spiffe://d1.latch/ns/d1/sa/${n.name}-w1`, ips: [n.cidr.replace(/0\/24$/, '11')] }],
    rekeyInterval: '2s',
    peerGracePeriod: '60s',
    // transport only: these namespaces have no bpffs (ip netns exec remounts /sys); test/e2e covers the datapath
    datapath: { enabled: false },
    log: { level: 'debug' },
  })
}

function startDaemon(n: Node): void {
  const log: string[] = []
  const proc = execa(
    'ip',
    [
      'netns',
      'exec',
      n.netns,
      process.execPath,
      '--import=tsx',
      join(ROOT, 'daemon', 'latchd.ts'),
      '--config',
      join(dir, `${n.name}.yaml`),
    ],
    { reject: false, cwd: ROOT, stdin: 'ignore', buffer: false },
  )
  proc.stdout?.on('data', (d: Buffer) => {
    log.push(String(d))
    allLogs.push(String(d))
  })
  proc.stderr?.on('data', (d: Buffer) => allLogs.push(String(d)))
  daemons.set(n.name, { proc, log })
}

async function status(n: Node): Promise<StatusReport> {
  return fetchStatus(join(dir, `${n.name}.sock`))
}

async function established(n: Node): Promise<StatusReport> {
  return waitAsync(async () => {
    const s = await status(n)
    return s.peers[0]?.state === 'established' && s.peers[0].tunnel === 'up' ? s : undefined
  })
}

async function psk(n: Node): Promise<string> {
  const r = await ns(n, ['wg', 'show', n.wg, 'preshared-keys'])
  return r.stdout.trim().split(/\s+/)[1] ?? ''
}

function waitAsync<T>(f: () => Promise<T | undefined | false>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = async () => {
      const v = await f().catch(() => undefined)
      if (v !== undefined && v !== false) return resolve(v)
      if (Date.now() > until) return reject(new Error(`condition not met within ${ms} ms`))
      setTimeout(tick, 100)
    }
    void tick()
  })
}

test.before(async () => {
  if (!isRoot) return
  await cleanup()
  dir = await mkdtemp(join(tmpdir(), 'latch-d1-'))
  const pki = join(dir, 'pki')
  await TestPki.create({
    trustDomain: 'd1.latch',
    dir: pki,
    nodes: NODES.map((n) => ({ name: n.name, ip: n.ip, cidrs: [n.cidr] })),
  })
  for (const n of NODES) await sh(['ip', 'netns', 'add', n.netns])
  await sh([
    'ip',
    'link',
    'add',
    NODES[0].veth,
    'netns',
    NODES[0].netns,
    'type',
    'veth',
    'peer',
    'name',
    NODES[1].veth,
    'netns',
    NODES[1].netns,
  ])
  for (const n of NODES) {
    await sh(['ip', '-n', n.netns, 'link', 'set', 'lo', 'up'])
    await sh(['ip', '-n', n.netns, 'addr', 'add', `${n.ip}/24`, 'dev', n.veth])
    await sh(['ip', '-n', n.netns, 'link', 'set', n.veth, 'up'])
  }
  const [a, b] = NODES
  await writeFile(join(dir, 'alpha.yaml'), configOf(a))
  await writeFile(join(dir, 'beta.yaml'), configOf(b))
  // one shared peers list: each daemon skips its own entry
  const peers = stringify(NODES.map((n) => ({ name: n.name, address: n.ip, port: 7443 })))
  await writeFile(join(dir, 'alpha.peers.yaml'), peers)
  await writeFile(join(dir, 'beta.peers.yaml'), peers)
})

test.after.always(async () => {
  if (!isRoot) return
  await cleanup()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const rootTest = isRoot ? test.serial : test.serial.skip

rootTest('two daemons authenticate and program the same PSK into WireGuard on both sides', async (t) => {
  for (const n of NODES) startDaemon(n)
  const [a, b] = NODES
  const sa = await established(a)
  const sb = await established(b)
  t.is(sa.peers[0]!.role, 'dialer')
  t.is(sb.peers[0]!.role, 'acceptor')
  t.is(sa.peers[0]!.endpoint, '10.98.0.2:51820')
  const pa = await psk(a)
  t.regex(pa, /^[A-Za-z0-9+/]{43}=$/)
  await waitAsync(async () => (await psk(b)) === pa)
  const show = await ns(a, ['wg', 'show', a.wg])
  t.regex(show.stdout, /preshared key: \(hidden\)/)
  t.regex(show.stdout, /allowed ips: .*10\.97\.2\.0\/24/)
})

rootTest(
  'ICMP crosses the tunnel without loss while the PSK rotates, and both sides always agree',
  async (t) => {
    const [a, b] = NODES
    const seen = new Set<string>([await psk(a)])
    const ping = ns(a, ['ping', '-n', '-q', '-i', '0.1', '-c', '80', '-W', '1', b.tunnel])
    const until = Date.now() + 7000
    while (Date.now() < until) {
      seen.add(await psk(a))
      await new Promise((r) => setTimeout(r, 250))
    }
    const r = await ping
    t.is(r.exitCode, 0, r.stdout + r.stderr)
    t.regex(r.stdout, / 0% packet loss/)
    t.true(seen.size >= 3, `only ${seen.size} PSKs seen in 7 s with a 2 s rekey interval`)
    // both sides converge on the same (latest) PSK
    await waitAsync(async () => {
      const [x, y] = [await psk(a), await psk(b)]
      return x === y && x !== '' ? true : undefined
    })
    const s = await status(a)
    t.true(s.peers[0]!.rotations >= 2)
    t.true((s.peers[0]!.pskAgeSeconds ?? 99) <= 3)
    t.true(s.peers[0]!.wireguard!.hasPresharedKey)
    t.true(s.peers[0]!.wireguard!.txBytes > 0)
    for (const p of seen) allSecrets.add(p)
  },
)

rootTest(
  'a SIGKILLed daemon: its peer keeps the tunnel; the restart re-adopts the interface and re-authenticates',
  async (t) => {
    const [a, b] = NODES
    const ifindex = async () => (await ns(a, ['cat', `/sys/class/net/${a.wg}/ifindex`])).stdout.trim()
    const before = await ifindex()
    const ping = ns(a, ['ping', '-n', '-q', '-i', '0.1', '-c', '60', '-W', '1', b.tunnel])
    await new Promise((r) => setTimeout(r, 1000))
    const victim = daemons.get('alpha')!
    victim.proc.kill('SIGKILL')
    await victim.proc
    // beta notices the loss and keeps the tunnel for the grace period
    await waitAsync(async () => ((await status(b)).peers[0]!.tunnel === 'grace' ? true : undefined))
    t.regex((await ns(b, ['wg', 'show', b.wg, 'peers'])).stdout, /=/)
    startDaemon(a)
    const s = await established(a)
    t.is(await ifindex(), before, 'the interface was adopted, not re-created')
    t.true(daemons.get('alpha')!.log.join('').includes('"adopted":true'))
    const r = await ping
    t.regex(r.stdout, / 0% packet loss/, r.stdout)
    t.is(s.peers[0]!.state, 'established')
    await waitAsync(async () => ((await status(b)).peers[0]!.tunnel === 'up' ? true : undefined))
    await waitAsync(async () => {
      const [x, y] = [await psk(a), await psk(b)]
      return x === y ? true : undefined
    })
    allSecrets.add(await psk(a))
  },
)

rootTest('no log line of either daemon contains a PSK or a private key', async (t) => {
  const [a, b] = NODES
  for (const n of NODES) {
    allSecrets.add((await readFile(join(dir, `${n.name}.wgkey`), 'utf8')).trim())
    const keyPem = await readFile(nodePaths(join(dir, 'pki'), n.name).key, 'utf8')
    for (const line of keyPem.split('\n'))
      if (line.length > 20 && !line.startsWith('-----')) allSecrets.add(line)
  }
  allSecrets.add(await psk(a))
  allSecrets.add(await psk(b))
  const logs = allLogs.join('')
  t.true(logs.includes('"event":"handshake_ok"'), "the logs are the daemons' JSON logs")
  t.true(allSecrets.size >= 8)
  for (const secret of allSecrets) t.false(logs.includes(secret), 'key material found in the logs')
  for (const line of logs.split('\n').filter(Boolean)) {
    t.notThrows(() => JSON.parse(line), `not a JSON line: ${line.slice(0, 200)}`)
  }
})

rootTest('SIGTERM stops a daemon cleanly and leaves WireGuard in place', async (t) => {
  const [a] = NODES
  const d = daemons.get('alpha')!
  d.proc.kill('SIGTERM')
  const r = await d.proc
  t.is(r.exitCode, 0)
  t.regex(d.log.join(''), /"event":"stopped"/)
  t.regex((await ns(a, ['wg', 'show', a.wg, 'peers'])).stdout, /=/)
})

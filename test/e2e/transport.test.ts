/**
 * Issue 3 "Must show", on the lab (3 nodes × 2 workloads, rekey every 3 s). The transport is
 * WireGuard, or IPsec with LATCH_E2E_TRANSPORT=ipsec (the real-kernel lane runs both; this host's
 * kernel has no ESP). "Keys" below are WireGuard PSKs, or the ESP SAs' (SPI, key) for IPsec:
 *  - TCP, UDP and ICMP between workloads on different nodes; the underlay capture holds no payload
 *    marker and nothing but WireGuard UDP between node addresses plus the handshake port;
 *  - `wg show` on every node lists the other nodes, each with a preshared key (equal on both ends);
 *  - PSK rotation under a TCP stream: ≥ 3 rotations, every byte arrives (count + SHA-256);
 *  - SIGKILL a latchd during a stream: the stream goes on, the restarted daemon re-adopts its
 *    WireGuard interface (same ifindex) and peers;
 *  - a daemon with a node certificate from another CA, or claiming CIDRs outside its constraints,
 *    gets no tunnel, and the reason is in its peer's log and `latchctl status`.
 * Root only; the lab is torn down after the file even when a test fails.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { stringify } from 'yaml'
import { daemonPkiFiles } from '../../certs/index.js'
import { scaled, timeScale } from '../../daemon/base/time-scale.js'
import { fetchStatus } from '../../daemon/control/index.js'
import type { StatusPeer, StatusReport } from '../../daemon/wire/status.js'
import { TestPki } from '../pki.js'
import { labUp, useLab } from './helpers/lab.js'
import { until } from './helpers/poll.js'
import { judgeCapture, MARKER, startCapture, startStream, udpExchange } from './traffic.js'

const ROOT = join(import.meta.dirname, '..', '..')
const LATCHD = join(ROOT, 'dist', 'daemon', 'latchd.js')
const LATCHCTL = join(ROOT, 'dist', 'daemon', 'cli', 'main.js')
const isRoot = process.getuid?.() === 0
// Periods and stream lengths stretch with LATCH_TIME_SCALE too (the lane's guest is ~15x slower), so
// the test asks for the same number of rotations per stream on any kernel. IPsec keeps 3 s: each
// rotation adds an SA generation that lives 6 s (scaled) after its successor appeared.
const TRANSPORT = process.env.LATCH_E2E_TRANSPORT === 'ipsec' ? 'ipsec' : 'wireguard'
const REKEY = `${(TRANSPORT === 'ipsec' ? 3 : 2) * timeScale()}s`
const seconds = (s: number) => Math.ceil(s * timeScale())
const lab = useLab(test, { nodes: 3, workloads: 2, rekeyInterval: REKEY, transport: TRANSPORT })
const TUNNEL_IF = TRANSPORT === 'ipsec' ? 'latchx0' : 'latch0'
const serial = isRoot ? test.serial : test.serial.skip

let tmp: string
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'latch-e2e-transport-'))
})
test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

function status(node: string): Promise<StatusReport> {
  return fetchStatus(lab().node(node).controlSocket)
}

async function peer(node: string, name: string): Promise<StatusPeer> {
  const p = (await status(node)).peers.find((x) => x.name === name)
  if (!p) throw new Error(`${node} has no peer ${name}`)
  return p
}

async function meshEstablished(): Promise<void> {
  await until('every node has every peer established', async () => {
    for (const n of lab().plan.nodes) {
      const s = await status(n.name)
      if (s.peers.length !== lab().plan.nodes.length - 1) return false
      if (!s.peers.every((p) => p.state === 'established' && p.tunnel === 'up')) return false
    }
    return true
  })
}

/**
 * A node's tunnel keys towards each peer: peer name → the key material in force. WireGuard: the
 * PSK of `wg show latch0 preshared-keys`. IPsec: the ESP SAs from this node to the peer
 * (`ip xfrm state`), as "spi key" lines, sorted.
 */
async function keysTo(node: string): Promise<Map<string, string>> {
  const byIp = new Map(lab().plan.nodes.map((n) => [n.underlayIp, n.name]))
  if (TRANSPORT === 'ipsec') {
    const sas = await xfrmStates(node)
    const self = lab().node(node).underlayIp
    const out = new Map<string, string[]>()
    for (const sa of sas.filter((s) => s.src === self)) {
      const peer = byIp.get(sa.dst)
      if (peer) out.set(peer, [...(out.get(peer) ?? []), `${sa.spi} ${sa.key}`].sort())
    }
    return new Map([...out].map(([k, v]) => [k, v.join(',')]))
  }
  // public keys from the interfaces (a node's latchd may be down; its interface stays)
  const names = new Map<string, string>()
  for (const n of lab().plan.nodes) {
    names.set((await lab().exec(n.name, ['wg', 'show', 'latch0', 'public-key'])).stdout.trim(), n.name)
  }
  return new Map([...(await psks(node))].map(([pub, psk]) => [names.get(pub) ?? pub, psk]))
}

/** The same SAs (src → dst) as the peer holds them: what `keysTo(node)` must equal on `peer`. */
async function keysFrom(peer: string, node: string): Promise<string> {
  if (TRANSPORT !== 'ipsec') return (await keysTo(peer)).get(node) ?? ''
  const src = lab().node(node).underlayIp
  const dst = lab().node(peer).underlayIp
  return (await xfrmStates(peer))
    .filter((s) => s.src === src && s.dst === dst)
    .map((s) => `${s.spi} ${s.key}`)
    .sort()
    .join(',')
}

interface XfrmState {
  src: string
  dst: string
  spi: string
  key: string
}

/** `ip xfrm state` of a node, parsed: one entry per SA. */
async function xfrmStates(node: string): Promise<XfrmState[]> {
  const r = await lab().exec(node, ['ip', 'xfrm', 'state'])
  const out: XfrmState[] = []
  for (const block of r.stdout.split(/^(?=src )/m).filter((b) => b.startsWith('src '))) {
    const head = /^src (\S+) dst (\S+)/.exec(block)
    const spi = /proto esp spi (0x[0-9a-f]+)/.exec(block)
    const key = /aead \S+ (0x[0-9a-f]+)/.exec(block)
    if (head && spi && key) out.push({ src: head[1]!, dst: head[2]!, spi: spi[1]!, key: key[1]! })
  }
  return out
}

/** Bytes through each node's tunnel interface (rx = decrypted, tx = sent into the tunnel). */
async function tunnelCounters(): Promise<Map<string, { rx: number; tx: number }>> {
  const out = new Map<string, { rx: number; tx: number }>()
  for (const n of lab().plan.nodes) {
    // from rtnetlink (the node's /sys may show another namespace's devices)
    const r = await lab().exec(n.name, ['ip', '-j', '-s', 'link', 'show', 'dev', TUNNEL_IF])
    const [link] = JSON.parse(r.stdout || '[]') as Array<{
      stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } }
    }>
    out.set(n.name, {
      rx: link?.stats64?.rx?.bytes ?? Number.NaN,
      tx: link?.stats64?.tx?.bytes ?? Number.NaN,
    })
  }
  return out
}

/** The non-zero counters of a node's /proc/net/xfrm_stat (XFRM's drop reasons). */
async function xfrmErrors(node: string): Promise<Record<string, number>> {
  const r = await lab().exec(node, ['cat', '/proc/net/xfrm_stat'])
  const out: Record<string, number> = {}
  for (const l of r.stdout.split('\n')) {
    const [k, v] = l.trim().split(/\s+/)
    if (k && Number(v) > 0) out[k] = Number(v)
  }
  return out
}

/** `wg show latch0 preshared-keys` of a node: public key → PSK. */
async function psks(node: string): Promise<Map<string, string>> {
  const r = await lab().exec(node, ['wg', 'show', 'latch0', 'preshared-keys'])
  return new Map(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]),
  )
}

serial(
  'the mesh comes up: every pair established, each node holds keys for every other, equal on both ends',
  async (t) => {
    await meshEstablished()
    if (process.env.LATCH_KERNEL_LANE === '1') {
      // the real-kernel lane: the kernel carries the mesh (no wireguard-go TUN)
      const kind = TRANSPORT === 'ipsec' ? 'xfrm' : 'wireguard'
      for (const n of lab().plan.nodes) {
        const link = await lab().exec(n.name, ['ip', '-d', 'link', 'show', TUNNEL_IF])
        t.regex(link.stdout, new RegExp(`\\n\\s+${kind} `), `${n.name}: ${TUNNEL_IF} is not a ${kind} link`)
      }
    }
    for (const n of lab().plan.nodes) {
      const mine = await keysTo(n.name)
      const others = lab().plan.nodes.filter((o) => o.name !== n.name)
      t.is(mine.size, others.length, `${n.name}: keys for ${[...mine.keys()].join(', ')}`)
      for (const o of others) {
        const key = mine.get(o.name)
        t.truthy(key, `${n.name} has no tunnel key for ${o.name}`)
        t.not(key, '(none)', `${n.name}: no preshared key for ${o.name}`)
        // a rotation may fall between the two reads: compare again until both ends agree
        if (key !== (await keysFrom(o.name, n.name))) {
          await until(
            `keys of ${n.name}/${o.name} agree`,
            async () => (await keysTo(n.name)).get(o.name) === (await keysFrom(o.name, n.name)),
          )
        }
      }
    }
  },
)

serial(
  `TCP, UDP and ICMP cross nodes; the underlay carries only ${TRANSPORT === 'ipsec' ? 'ESP' : 'WireGuard'} and the handshake port`,
  async (t) => {
    const pcap = join(tmp, 'underlay.pcap')
    const stop = await startCapture(pcap, 'latch-underlay', 'latchbr0')
    let stopped = false
    const ifBefore = await tunnelCounters()
    try {
      // WireGuard handshakes lazily, on a tunnel's first packet; one that crosses a PSK rotation (every
      // 3 s here, 40x the default) is retried by WireGuard itself after its 5 s REKEY_TIMEOUT. Wait for
      // the data-plane handshake, then require every packet to arrive.
      await until(
        'node1-w1 reaches node2-w1 through the tunnel',
        async () =>
          (await lab().exec('node1-w1', ['ping', '-c', '1', '-W', '1', lab().workload('node2-w1').ip]))
            .exitCode === 0,
        20_000,
      )
      const ping = await lab().exec('node1-w1', [
        'ping',
        '-c',
        '5',
        '-i',
        '0.2',
        '-W',
        '2',
        '-p',
        Buffer.from(MARKER.slice(0, 16)).toString('hex'),
        lab().workload('node2-w1').ip,
      ])
      t.is(ping.exitCode, 0, ping.stdout + ping.stderr)
      t.regex(ping.stdout, / 0% packet loss/)
      const udp = await udpExchange(lab(), 'node2-w2', 'node3-w1')
      t.is(udp, `${lab().workload('node2-w2').ip} ${MARKER}-udp`)
      const stream = await startStream(lab(), 'node3-w2', 'node1-w2', seconds(3))
      const r = await stream()
      t.true(r.sent.bytes > 100_000)
      t.deepEqual(r.received, r.sent)
      if (TRANSPORT === 'ipsec') {
        // the stream went through XFRM: the XFRM interfaces counted it (they count only packets
        // that were encrypted / decrypted), the ESP SAs carried bytes, and no XFRM error counter moved
        const ifAfter = await tunnelCounters()
        const grew = (n: string, k: 'tx' | 'rx') => ifAfter.get(n)![k] - ifBefore.get(n)![k]
        t.true(grew('node3', 'tx') >= r.sent.bytes, `node3 ${TUNNEL_IF} sent ${grew('node3', 'tx')} B`)
        t.true(grew('node1', 'rx') >= r.sent.bytes, `node1 ${TUNNEL_IF} received ${grew('node1', 'rx')} B`)
        for (const [a, b] of [
          ['node3', 'node1'],
          ['node1', 'node2'],
        ] as const) {
          const p = await peer(a, b)
          t.true((p.wireguard?.txBytes ?? 0) > 0, `${a}'s ESP SAs to ${b} carried no bytes`)
          t.true((p.wireguard?.rxBytes ?? 0) > 0, `${a}'s ESP SAs from ${b} carried no bytes`)
        }
        for (const n of lab().plan.nodes) t.deepEqual(await xfrmErrors(n.name), {}, `${n.name} xfrm_stat`)
      }
      await stop()
      stopped = true
      const v = await judgeCapture(pcap, TRANSPORT)
      t.false(v.markerFound, 'the payload marker crossed the underlay in clear')
      t.deepEqual(v.unexpected, [], `packets other than ${TRANSPORT}, the handshake port and ARP`)
      t.true(v.tunnel > 50, `only ${v.tunnel} ${TRANSPORT} packets captured`)
    } finally {
      if (!stopped) await stop()
    }
  },
)

serial('key rotation under a TCP stream: at least 3 rotations and not a byte lost', async (t) => {
  const before = (await peer('node1', 'node2')).rotations
  const keyBefore = (await keysTo('node1')).get('node2')
  // 12 s at most (4 or 6 rotation periods); it ends soon after the third rotation
  const stream = await startStream(lab(), 'node1-w1', 'node2-w1', seconds(12))
  await until(
    'three rotations during the stream',
    async () => (await peer('node1', 'node2')).rotations - before >= 3,
    15_000,
    scaled(500),
  ).catch(() => undefined)
  // the last switch lands under the stream too (IPsec moves its outbound SA 2 s, scaled, later)
  await new Promise((r) => setTimeout(r, scaled(TRANSPORT === 'ipsec' ? 2500 : 500)))
  stream.stop()
  const r = await stream()
  const after = await peer('node1', 'node2')
  t.true(after.rotations - before >= 3, `${after.rotations - before} rotations during the stream`)
  t.not((await keysTo('node1')).get('node2'), keyBefore)
  t.true(r.sent.bytes > 1_000_000, `only ${r.sent.bytes} bytes sent`)
  t.deepEqual(r.received, r.sent, 'bytes received differ from bytes sent')
})

serial(
  'SIGKILL a latchd during a stream: the stream continues and the restart re-adopts the interface',
  async (t) => {
    // from rtnetlink: the node's /sys is the root namespace's sysfs (it has no ${TUNNEL_IF})
    const ifindex = async () => {
      const r = await lab().exec('node1', ['ip', '-j', 'link', 'show', 'dev', TUNNEL_IF])
      return (JSON.parse(r.stdout || '[]') as Array<{ ifindex?: number }>)[0]?.ifindex
    }
    const indexBefore = await ifindex()
    t.true(typeof indexBefore === 'number', `node1 has no ${TUNNEL_IF}`)
    const pid = (await status('node1')).pid
    const stream = await startStream(lab(), 'node1-w1', 'node3-w2', seconds(10))
    await new Promise((r) => setTimeout(r, scaled(2000)))
    process.kill(pid, 'SIGKILL')
    await until(
      'node3 sees node1 gone and keeps the tunnel',
      async () => (await peer('node3', 'node1')).tunnel === 'grace',
    )
    t.truthy((await keysTo('node3')).get('node1'), 'node3 still has its tunnel keys for node1')
    const report = await labUp()
    t.deepEqual(
      report.daemons.filter((d) => d.state !== 'running').map((d) => d.node),
      ['node1'],
    )
    // the new daemon runs and adopted the tunnel: a little more of the stream, then its end
    await new Promise((r) => setTimeout(r, scaled(2000)))
    stream.stop()
    const r = await stream()
    t.deepEqual(r.received, r.sent, 'the stream lost bytes across the daemon restart')
    t.is(await ifindex(), indexBefore, `${TUNNEL_IF} was re-created instead of adopted`)
    const log = await readFile(lab().node('node1').logFile, 'utf8')
    const starts = log.split('\n').filter((l) => l.includes('"event":"started"'))
    t.regex(starts.at(-1) ?? '', /"adopted":true/)
    await meshEstablished()
    t.not((await status('node1')).pid, pid)
  },
)

interface Rogue {
  name: string
  /** builds the rogue node3's config; returns the expected refusal reason on its peers */
  config: (dir: string) => Promise<{ yaml: string; reason: RegExp }>
}

const NODE3 = { ip: '10.99.0.13', cidr: '10.100.3.0/24' }

/** node3's latchd config with the node identity of the PKI in `pkiDir`, claiming `cidrs`. */
function rogueConfig(dir: string, pkiDir: string, cidrs: string[]) {
  return stringify({
    node: 'node3',
    trustDomain: 'lab.latch',
    pki: daemonPkiFiles(pkiDir, 'node3'),
    listen: { address: NODE3.ip, port: 7443 },
    workloadCidrs: cidrs,
    wireguard: {
      interface: 'latch9',
      listenPort: 51829,
      address: '10.101.0.9/32',
      privateKeyFile: join(dir, 'wg.key'),
    },
    peersFile: lab().node('node3').peersFile,
    controlSocket: join(dir, 'rogue.sock'),
    rekeyInterval: REKEY,
  })
}

const rogues: Rogue[] = [
  {
    name: 'a node certificate from another CA',
    config: async (dir) => {
      const pki = join(dir, 'pki')
      await TestPki.create({
        trustDomain: 'lab.latch',
        dir: pki,
        nodes: [{ name: 'node3', ip: NODE3.ip, cidrs: [NODE3.cidr] }],
      })
      return {
        yaml: rogueConfig(dir, pki, [NODE3.cidr]),
        reason: /^cert_(unknown_issuer|bad_signature)$/,
      }
    },
  },
  {
    name: "CIDRs outside its intermediate's name constraints (node1's range)",
    config: async (dir) => {
      const pki = lab().plan.pkiDir
      return {
        yaml: rogueConfig(dir, pki, [NODE3.cidr, '10.100.1.0/24']),
        reason: /^cidrs_outside_constraints$/,
      }
    },
  },
]

for (const rogue of rogues) {
  serial(`a daemon with ${rogue.name} gets no tunnel; its peers log and show the reason`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'latch-e2e-rogue-'))
    const { yaml, reason } = await rogue.config(dir)
    await writeFile(join(dir, 'latchd.yaml'), yaml)
    // the real node3 daemon steps aside; the rogue takes its address and port
    process.kill((await status('node3')).pid, 'SIGTERM')
    await until(
      'node3 stopped',
      async () =>
        (await status('node3')
          .then(() => false)
          .catch(() => true)) || undefined,
    )
    // SAs towards node3's address that exist now belong to the real node3 (kept for its grace). A
    // re-handshake of the real node3 just before it stopped still gets its outbound SA when the
    // engine's make-before-break switch is due (2 s, scaled, after the new inbound SA): wait it out
    if (TRANSPORT === 'ipsec') await new Promise((r) => setTimeout(r, scaled(3000)))
    const spisBefore = new Map<string, Set<string>>()
    for (const node of ['node1', 'node2']) {
      spisBefore.set(node, new Set(TRANSPORT === 'ipsec' ? (await xfrmStates(node)).map((sa) => sa.spi) : []))
    }
    const { child: proc } = await lab().spawn('node3', [
      process.execPath,
      LATCHD,
      '--config',
      join(dir, 'latchd.yaml'),
    ])
    try {
      const rogueKey = await until(
        'the rogue answers',
        async () => (await fetchStatus(join(dir, 'rogue.sock'))).wireguard.publicKey,
      )
      for (const node of ['node1', 'node2']) {
        const p = await until(`${node} refuses the rogue`, async () => {
          const x = await peer(node, 'node3')
          return x.refusal && reason.test(x.refusal.reason) ? x : undefined
        })
        t.is(p.refusal!.by, 'local')
        t.not(p.state, 'established')
        if (TRANSPORT === 'ipsec') {
          const fresh = (await xfrmStates(node)).filter(
            (sa) => (sa.dst === NODE3.ip || sa.src === NODE3.ip) && !spisBefore.get(node)?.has(sa.spi),
          )
          t.deepEqual(fresh, [], `${node} programmed ESP SAs for the rogue`)
        } else {
          const wgPeers = (await lab().exec(node, ['wg', 'show', 'latch0', 'peers'])).stdout
          t.false(wgPeers.includes(rogueKey), `${node} programmed a tunnel to the rogue`)
        }
        const log = await readFile(lab().node(node).logFile, 'utf8')
        t.true(
          log
            .split('\n')
            .some((l) => l.includes('"event":"handshake_refused"') && reason.test(JSON.parse(l).reason)),
          `${node}'s log has no handshake_refused line with the reason`,
        )
        const cli = await execa(
          process.execPath,
          [LATCHCTL, 'status', '--socket', lab().node(node).controlSocket],
          { reject: false },
        )
        t.is(cli.exitCode, 0, cli.stderr)
        t.regex(cli.stdout, new RegExp(`node3.*${reason.source.replace(/^\^|\$$/g, '')}`))
      }
      // the rogue itself is told why
      const own = await fetchStatus(join(dir, 'rogue.sock'))
      t.true(own.peers.every((p) => p.state !== 'established' && p.refusal !== undefined))
    } finally {
      proc.kill('SIGTERM')
      await proc
      await lab().exec('node3', ['ip', 'link', 'del', 'latch9'])
      await rm(dir, { recursive: true, force: true })
      await labUp() // the real node3 daemon comes back
    }
    await meshEstablished()
  })
}

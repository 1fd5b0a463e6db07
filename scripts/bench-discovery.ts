/**
 * scripts/bench-discovery: see the shell wrapper. Options: --sizes 1000,10000 --events 20 --out FILE.
 *
 * Two processes: this one (host) brings up the lab (1 node, etcd discovery, peerGracePeriod 0 so a
 * leave is applied when etcd says so) and reads node1's latchd: its log (`peers_reloaded` lines carry
 * the time and the size of every peer list the daemon applied; reading them costs latchd nothing),
 * /proc/PID/stat (CPU) and /proc/PID/status (RSS); a control-socket status checks the end state of
 * each size. The load generator (the same file with --load, started in the underlay netns where the
 * lab's etcd listens) writes the synthetic registrations with the lab's admin client certificate,
 * on command (one JSON line in, one out).
 *
 * Synthetic node i registers as `a-sNNNNNN`: it sorts before node1, so node1 only accepts from it and
 * the figures are discovery's (watch, view, diff, peer state machines). `--dial half`: odd i register
 * as `z-sNNNNNN`, which node1 dials, as a node of a real fleet dials half its peers. Every record points
 * at 10.99.0.2:9 (etcd1's address on the underlay bridge; nothing listens on port 9): dials are refused at once and back off, as
 * for a registered node that is down. They never complete a handshake; the figures are discovery's.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { execa, type ResultPromise } from 'execa'
import { etcdPkiPaths } from '../certs/etcd-pki.js'
import { readPrivateKey } from '../certs/keys.js'
import { fetchStatus } from '../daemon/control/index.js'
import {
  clientUrl,
  LAB_ETCD_ADMIN,
  LAB_ETCD_PKI_DIR,
  LAB_ETCD_PREFIX,
  labDown,
  labEtcdMembers,
  labUp,
  UNDERLAY_NETNS,
} from '../daemon/lab/index.js'
import { netnsPath } from '../daemon/lab/netns.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' },
    events: { type: 'string', default: '20' },
    out: { type: 'string', default: join(REPO, 'bench-results', 'discovery.json') },
    load: { type: 'boolean', default: false },
    /** none: every synthetic node sorts before node1, which only accepts (discovery alone); half: node1 dials half of them */
    dial: { type: 'string', default: 'none' },
  },
})

const FINGERPRINT = `sha256:${'ab'.repeat(32)}`
const DIAL_HALF = values.dial === 'half'
const synthName = (i: number) => `${DIAL_HALF && i % 2 === 1 ? 'z' : 'a'}-s${String(i).padStart(6, '0')}`
const record = (name: string) =>
  JSON.stringify({ v: 1, name, address: '10.99.0.2', port: 9, fingerprint: FINGERPRINT })

type Command =
  | { op: 'fill'; from: number; to: number }
  | { op: 'put'; name: string }
  | { op: 'delete'; name: string }
  | { op: 'clear' }

// --- the load generator (in the underlay netns) ---------------------------------------------------

async function loadGenerator(): Promise<void> {
  const { Etcd3 } = await import('etcd3')
  const pki = etcdPkiPaths(LAB_ETCD_PKI_DIR)
  const admin = pki.client(LAB_ETCD_ADMIN)
  const client = new Etcd3({
    hosts: labEtcdMembers().map(clientUrl),
    credentials: {
      rootCertificate: await readFile(pki.caCert),
      certChain: await readFile(admin.cert),
      privateKey: Buffer.from(await readPrivateKey(admin.key)),
    },
  })
  // one lease for every synthetic record, kept alive (a real node's record has its own)
  const lease = client.lease(60)
  await lease.grant()
  const reply = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`)
  for await (const line of createInterface({ input: process.stdin })) {
    const c = JSON.parse(line) as Command
    const t0 = performance.now()
    if (c.op === 'fill') {
      // transactions of 100 puts (etcd's default limit is 128 operations), 8 in flight
      const batches: number[][] = []
      for (let i = c.from; i < c.to; i += 100)
        batches.push(Array.from({ length: Math.min(100, c.to - i) }, (_, k) => i + k))
      let next = 0
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < batches.length) {
            const b = batches[next++] ?? []
            const tx = client.if(`${LAB_ETCD_PREFIX}${synthName(b[0] ?? 0)}`, 'Version', '>', -1)
            await tx
              .then(
                ...b.map((i) =>
                  client
                    .put(`${LAB_ETCD_PREFIX}${synthName(i)}`)
                    .value(record(synthName(i)))
                    .lease(lease.grant()),
                ),
              )
              .commit()
          }
        }),
      )
    } else if (c.op === 'put') {
      await client
        .put(`${LAB_ETCD_PREFIX}${c.name}`)
        .value(record(c.name))
        .lease(await lease.grant())
    } else if (c.op === 'delete') {
      await client.delete().key(`${LAB_ETCD_PREFIX}${c.name}`)
    } else {
      await client.delete().prefix(`${LAB_ETCD_PREFIX}a-s`)
      await client.delete().prefix(`${LAB_ETCD_PREFIX}z-s`)
    }
    reply({ ok: true, ms: performance.now() - t0 })
  }
  await lease.revoke().catch(() => undefined)
  client.close()
}

// --- the measuring side (host) ---------------------------------------------------------------------

const CLK_TCK = 100
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / CLK_TCK
}
async function memory(pid: number): Promise<{ rssMiB: number; peakMiB: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? Number.NaN)
  return { rssMiB: Math.round(kb('VmRSS') / 102.4) / 10, peakMiB: Math.round(kb('VmHWM') / 102.4) / 10 }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The `peers_reloaded` lines latchd appends to its log: when it applied a list, and its size. */
class LogTail {
  #offset = 0
  constructor(readonly file: string) {}
  async skipToEnd(): Promise<void> {
    const fh = await open(this.file, 'r')
    this.#offset = (await fh.stat()).size
    await fh.close()
  }
  /** Wait until latchd applied a peer list of `size`; its log time (ms since the epoch). */
  async applied(size: number, timeoutMs: number): Promise<number> {
    const end = Date.now() + timeoutMs
    let partial = ''
    while (Date.now() < end) {
      const fh = await open(this.file, 'r')
      const { size: len } = await fh.stat()
      const buf = Buffer.alloc(len - this.#offset)
      await fh.read(buf, 0, buf.length, this.#offset)
      await fh.close()
      this.#offset = len
      const lines = (partial + buf.toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) {
        if (!l.includes('"peers_reloaded"')) continue
        const e = JSON.parse(l) as { time: string | number; peers: number }
        if (e.peers === size) return typeof e.time === 'number' ? e.time : Date.parse(e.time)
      }
      await sleep(50)
    }
    throw new Error(`latchd did not apply a list of ${size} peers within ${timeoutMs} ms`)
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}
const r1 = (x: number) => Math.round(x * 10) / 10

interface Row {
  nodes: number
  writeMs: number
  convergeMs: number
  convergeCpuSeconds: number
  rssMiB: number
  peakRssMiB: number
  steadyCpuPercent: number
  joinMsP50: number
  joinMsP95: number
  leaveMsP50: number
  leaveMsP95: number
  /** CPU of latchd over the join/leave phase per event, all of it (includes the steady cost) */
  cpuMsPerEvent: number
  /** the same minus the steady rate over the phase's duration (floored at 0) */
  netCpuMsPerEvent: number
}

/** The JSON, rewritten after each size (a later size that fails keeps the earlier ones). */
function writeResult(rows: Row[], events: number): void {
  const result = {
    bench: 'discovery',
    at: new Date().toISOString(),
    node: process.version,
    kernel: release(),
    cpus: cpus().length,
    dial: DIAL_HALF ? 'half' : 'none',
    events,
    rows,
  }
  mkdirSync(dirname(values.out), { recursive: true })
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`)
}

async function measure(): Promise<void> {
  const sizes = values.sizes.split(',').map(Number)
  const events = Number(values.events)
  await labDown()
  const up = await labUp({ nodes: 1, workloads: 1, discovery: 'etcd', peerGracePeriod: '0s' })
  const node = up.plan.nodes[0]
  if (!node) throw new Error('the lab has no node1')
  let gen: ResultPromise | undefined
  try {
    const pid = (await fetchStatus(node.controlSocket)).pid
    gen = execa(
      'nsenter',
      [
        `--net=${netnsPath(UNDERLAY_NETNS)}`,
        process.execPath,
        '--import=tsx',
        fileURLToPath(import.meta.url),
        '--load',
      ],
      { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', cwd: REPO },
    )
    const replies = createInterface({ input: gen.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]()
    const send = async (c: Command): Promise<number> => {
      gen?.stdin?.write(`${JSON.stringify(c)}\n`)
      const r = await replies.next()
      if (r.done) throw new Error('the load generator exited')
      return (JSON.parse(String(r.value)) as { ms: number }).ms
    }
    const log = new LogTail(node.logFile)
    const rows: Row[] = []
    for (const n of sizes) {
      await log.skipToEnd()
      await send({ op: 'clear' })
      if (rows.length > 0) await log.applied(0, 120_000) // the previous size's records are gone
      await sleep(3000)
      await log.skipToEnd()
      const cpu0 = await cpuSeconds(pid)
      const t0 = Date.now()
      const writeMs = await send({ op: 'fill', from: 0, to: n })
      const at = await log.applied(n, 300_000)
      const cpu1 = await cpuSeconds(pid)
      const st = await fetchStatus(node.controlSocket, 30_000)
      const records = st.discovery?.backend === 'etcd' ? st.discovery.records : undefined
      if (records !== n || st.peers.length !== n)
        throw new Error(`node1 shows ${records} records, ${st.peers.length} peers, not ${n}`)
      const mem = await memory(pid)
      // steady: what holding n registered-but-down peers costs (dial backoff, timers)
      await sleep(5000)
      const s0 = await cpuSeconds(pid)
      const ts = performance.now()
      await sleep(10_000)
      const steady = ((await cpuSeconds(pid)) - s0) / ((performance.now() - ts) / 1000)
      const join: number[] = []
      const leave: number[] = []
      const e0 = await cpuSeconds(pid)
      const te = performance.now()
      for (let k = 0; k < events; k++) {
        const name = synthName(n + k)
        await log.skipToEnd()
        let t = Date.now()
        await send({ op: 'put', name })
        join.push((await log.applied(n + 1, 30_000)) - t)
        await sleep(200)
        t = Date.now()
        await send({ op: 'delete', name })
        leave.push((await log.applied(n, 30_000)) - t)
        await sleep(200)
      }
      const eventCpu = (await cpuSeconds(pid)) - e0
      const eventNet = eventCpu - steady * ((performance.now() - te) / 1000)
      join.sort((a, b) => a - b)
      leave.sort((a, b) => a - b)
      rows.push({
        nodes: n,
        writeMs: Math.round(writeMs),
        convergeMs: at - t0,
        convergeCpuSeconds: r1(cpu1 - cpu0),
        rssMiB: mem.rssMiB,
        peakRssMiB: mem.peakMiB,
        steadyCpuPercent: r1(steady * 100),
        joinMsP50: pct(join, 50),
        joinMsP95: pct(join, 95),
        leaveMsP50: pct(leave, 50),
        leaveMsP95: pct(leave, 95),
        cpuMsPerEvent: r1((eventCpu * 1000) / (2 * events)),
        netCpuMsPerEvent: r1(Math.max(0, (eventNet * 1000) / (2 * events))),
      })
      writeResult(rows, events)
    }
    await send({ op: 'clear' })
    gen.stdin?.end()
    await gen
    gen = undefined

    const header = [
      'nodes',
      'write ms',
      'converge ms',
      'converge CPU s',
      'RSS MiB',
      'peak RSS MiB',
      'steady CPU %',
      'join p50/p95 ms',
      'leave p50/p95 ms',
      'CPU ms/event',
      'net of steady',
    ]
    const table = [
      header,
      ...rows.map((r) =>
        [
          r.nodes,
          r.writeMs,
          r.convergeMs,
          r.convergeCpuSeconds,
          r.rssMiB,
          r.peakRssMiB,
          r.steadyCpuPercent,
          `${r.joinMsP50}/${r.joinMsP95}`,
          `${r.leaveMsP50}/${r.leaveMsP95}`,
          r.cpuMsPerEvent,
          r.netCpuMsPerEvent,
        ].map(String),
      ),
    ]
    const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]?.length ?? 0)))
    process.stdout.write(
      `etcd discovery: N synthetic registrations in the lab etcd (3 members), one real latchd (node1) watching; node1 dials ${DIAL_HALF ? 'half of them' : 'none of them'}\n` +
        '(converge: first put → latchd applied the list of N; join/leave: put/delete → applied; CPU: latchd utime+stime; steady: holding N down peers)\n',
    )
    for (const r of table) process.stdout.write(`${r.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')}\n`)
    writeResult(rows, events)
    process.stdout.write(`wrote ${values.out}\n`)
  } finally {
    gen?.kill()
    await labDown()
  }
}

if (values.load) await loadGenerator()
else await measure()

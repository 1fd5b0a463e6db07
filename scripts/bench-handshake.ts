/**
 * scripts/bench-handshake: see the shell wrapper. Options: --count 300 --concurrency 1,8,32 --out FILE.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { cpus, release, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { initCa, issueNode, nodePaths, readPrivateKey } from '../certs/index.js'
import {
  dialPeer,
  type HandshakeOutcome,
  HandshakeServer,
  type LocalNode,
} from '../daemon/handshake/index.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1,8,32' },
    out: { type: 'string', default: join(REPO, 'bench-results', 'handshake.json') },
  },
})
const count = Number(values.count)
const levels = values.concurrency.split(',').map(Number)

function wgPublicKey(): string {
  const { publicKey } = generateKeyPairSync('x25519')
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64')
}

async function local(dir: string, node: string, i: number): Promise<LocalNode> {
  const p = nodePaths(dir, node)
  return {
    node,
    trustDomain: 'bench.latch',
    rootPem: await readFile(join(dir, 'ca', 'root.crt'), 'utf8'),
    certPem: await readFile(p.cert, 'utf8'),
    keyPem: await readPrivateKey(p.key),
    intermediatePem: await readFile(p.caCert, 'utf8'),
    wgPublicKey: wgPublicKey(),
    endpoint: `127.0.0.1:${51820 + i}`,
    tunnelAddress: `10.101.0.${i}/32`,
    workloadCidrs: [`10.100.${i}.0/24`],
    workloads: Array.from({ length: 20 }, (_, j) => ({
      id: `spiffe://bench.latch/ns/bench/sa/n${i}-w${j}`,
      ips: [`10.100.${i}.${10 + j}`],
    })),
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

const dir = await mkdtemp(join(tmpdir(), 'latch-bench-hs-'))
try {
  await initCa({ dir, trustDomain: 'bench.latch' })
  for (const i of [1, 2])
    await issueNode({ dir, node: `node${i}`, ip: '127.0.0.1', workloadCidrs: [`10.100.${i}.0/24`] })
  const a = await local(dir, 'node1', 1)
  const b = await local(dir, 'node2', 2)
  const server = new HandshakeServer({
    local: b,
    isKnownPeer: () => true,
    onOutcome: (o) => {
      if (o.ok) o.session.channel.close('bench')
    },
  })
  const { port } = await server.listen('127.0.0.1', 0)
  const dial = async (): Promise<number> => {
    const o: HandshakeOutcome = await dialPeer({
      local: a,
      peer: { name: 'node2', address: '127.0.0.1', port },
    })
    if (!o.ok) throw new Error(`handshake refused: ${o.refusal.reason}: ${o.refusal.message}`)
    o.session.channel.close('bench')
    return o.session.durationMs
  }
  for (let i = 0; i < 20; i++) await dial() // warm-up
  const rows: Array<{
    concurrency: number
    handshakes: number
    perSecond: number
    p50: number
    p95: number
    p99: number
    max: number
  }> = []
  for (const c of levels) {
    const lat: number[] = []
    const started = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (next < count) {
          next++
          lat.push(await dial())
        }
      }),
    )
    const secs = (performance.now() - started) / 1000
    lat.sort((x, y) => x - y)
    rows.push({
      concurrency: c,
      handshakes: lat.length,
      perSecond: Math.round(lat.length / secs),
      p50: pct(lat, 50),
      p95: pct(lat, 95),
      p99: pct(lat, 99),
      max: lat.at(-1) ?? Number.NaN,
    })
  }
  await server.close(true)
  const header = ['concurrency', 'handshakes', 'per second', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms']
  const table = [
    header,
    ...rows.map((r) => [r.concurrency, r.handshakes, r.perSecond, r.p50, r.p95, r.p99, r.max].map(String)),
  ]
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)))
  process.stdout.write('node handshake (mutual TLS 1.3 + hello with 20 workloads + PSK export), 127.0.0.1\n')
  for (const r of table) process.stdout.write(`${r.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`)
  const result = {
    bench: 'handshake',
    at: new Date().toISOString(),
    node: process.version,
    kernel: release(),
    cpus: cpus().length,
    rows,
  }
  mkdirSync(dirname(values.out), { recursive: true })
  writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`)
  process.stdout.write(`wrote ${values.out}\n`)
} finally {
  await rm(dir, { recursive: true, force: true })
}

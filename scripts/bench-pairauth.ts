/**
 * The benchmark behind scripts/bench-pairauth. Everything runs in this one Node process (one core for
 * JavaScript): a PairAuthServer for node2 and clients for node1 on loopback, with a real PKI made in a
 * temp dir. Both ends' work is on this core, so "per core" counts a full authentication (client and
 * server side); `per CPU-second` divides by the process's measured CPU time.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  initCa,
  issueNode,
  issueWorkloadFromIntermediate,
  nodePaths,
  readPrivateKey,
} from '../certs/index.js'
import {
  authenticatePair,
  createPairAuthServer,
  desiredPairs,
  PairAuthLoop,
  type PairOutcome,
  WorkloadCredentials,
} from '../daemon/pairauth/index.js'
import { compilePolicy } from '../daemon/policy/index.js'

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    pairs: { type: 'string', default: '200' },
  },
})
const N = Number(values.n)
const CONCURRENCY = Number(values.concurrency)
const PAIRS = Math.min(250, Number(values.pairs))
const TD = 'bench.latch'
// the local workloads' IDs sort before the remote one: this daemon initiates (no responder grace)
const DB = `spiffe://${TD}/ns/bench/sa/server`
const webId = (i: number) => `spiffe://${TD}/ns/bench/sa/client-${i}`
const ADDR = { node1: '127.0.0.21', node2: '127.0.0.22' }
const CIDR = { node1: '10.100.1.0/24', node2: '10.100.2.0/24' }

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'latch-bench-pair-'))
  try {
    await initCa({ dir, trustDomain: TD })
    for (const node of ['node1', 'node2'] as const) {
      await issueNode({ dir, node, ip: ADDR[node], workloadCidrs: [CIDR[node]] })
    }
    const inter = async (node: string) => ({
      intermediateCertPem: await readFile(nodePaths(dir, node).caCert, 'utf8'),
      intermediateKeyPem: await readPrivateKey(nodePaths(dir, node).caKey),
    })
    const rootPem = await readFile(join(dir, 'ca', 'root.crt'), 'utf8')
    const trust = { rootPem, trustDomain: TD }
    const i1 = await inter('node1')
    const i2 = await inter('node2')
    const clientCreds = new WorkloadCredentials(rootPem)
    for (let i = 0; i < PAIRS; i++) {
      clientCreds.put(
        await issueWorkloadFromIntermediate({ ...i1, spiffeId: webId(i), ips: [`10.100.1.${i + 2}`] }),
      )
    }
    const serverCreds = new WorkloadCredentials(rootPem)
    serverCreds.put(await issueWorkloadFromIntermediate({ ...i2, spiffeId: DB, ips: ['10.100.2.2'] }))
    const rules = Array.from({ length: PAIRS }, (_, i) => `  - from: ${webId(i)}\n    to: ${DB}`)
    const policy = compilePolicy(`version: 1\ntrustDomain: ${TD}\nallow:\n${rules.join('\n')}\n`, {
      file: 'bench',
    })
    const constraintsFor = (node: string) =>
      node === 'node1' || node === 'node2' ? { cidrs: [CIDR[node]] } : undefined
    const n2 = nodePaths(dir, 'node2')
    let serverOk = 0
    let serverFailed = 0
    const server = createPairAuthServer({
      trust,
      credentials: serverCreds,
      fallback: { certPem: await readFile(n2.cert, 'utf8'), keyPem: await readPrivateKey(n2.key) },
      senderNode: (r) => (r.address === ADDR.node1 ? 'node1' : undefined),
      constraintsFor,
      policy: () => policy,
      ttlMs: 3_600_000,
      onOutcome: (o) => (o.ok ? serverOk++ : serverFailed++),
    })
    const { port } = await server.listen(ADDR.node2, 0)
    const dial = (i: number): Promise<PairOutcome> =>
      authenticatePair({
        trust,
        credentials: clientCreds,
        local: webId(i % PAIRS),
        remote: DB,
        peer: { node: 'node2', address: ADDR.node2, port },
        localAddress: ADDR.node1,
        constraints: constraintsFor('node2'),
        policy,
        ttlMs: 3_600_000,
      })

    const run = async (label: string, total: number, concurrency: number) => {
      for (let i = 0; i < Math.min(50, total); i++) await dial(i) // warm-up
      const times: number[] = []
      let failures = 0
      let next = 0
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      const worker = async () => {
        while (next < total) {
          const i = next++
          const s = performance.now()
          const o = await dial(i)
          times.push(performance.now() - s)
          if (!o.ok) failures++
        }
      }
      await Promise.all(Array.from({ length: concurrency }, worker))
      const wallS = (performance.now() - t0) / 1000
      const cpu = process.cpuUsage(cpu0)
      const cpuS = (cpu.user + cpu.system) / 1e6
      times.sort((a, b) => a - b)
      return {
        label,
        handshakes: total,
        concurrency,
        failures,
        perSecond: total / wallS,
        perCpuSecond: total / cpuS,
        p50Ms: percentile(times, 50),
        p99Ms: percentile(times, 99),
      }
    }

    const results = [await run('sequential', N, 1), await run('concurrent', N, CONCURRENCY)]

    // planned → authenticated: a policy reload makes PAIRS pairs allowed at once
    const startedAt = new Map<string, number>()
    const latencies: number[] = []
    let done = 0
    let finished: () => void = () => {}
    const allDone = new Promise<void>((r) => {
      finished = r
    })
    const loop = new PairAuthLoop({
      authenticate: (p) => dial(Number(p.local.split('-').at(-1))),
      onAuthenticated: (p) => {
        latencies.push(performance.now() - (startedAt.get(p.key) ?? 0))
        if (++done === PAIRS) finished()
      },
      onRevoked: () => {},
      onFailed: (_p, o) => {
        console.error(`pair failed: ${o.reason}: ${o.message}`)
      },
    })
    const desired = desiredPairs({
      localNode: 'node1',
      policy,
      local: Array.from({ length: PAIRS }, (_, i) => ({ id: webId(i), ips: [`10.100.1.${i + 2}`] })),
      remote: new Map([['node2', [{ id: DB, ips: ['10.100.2.2'] }]]]),
    })
    const t0 = performance.now()
    for (const p of desired) startedAt.set(p.key, t0)
    loop.update(desired)
    await allDone
    const batchS = (performance.now() - t0) / 1000
    loop.stop()
    latencies.sort((a, b) => a - b)
    await server.close(true)

    const planned = {
      pairs: PAIRS,
      maxInFlight: 64,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      allAuthenticatedMs: batchS * 1000,
    }
    const f = (x: number) => x.toFixed(1)
    console.log(
      `identity-pair authentication on loopback (${cpus()[0]?.model ?? 'cpu'}, Node ${process.version})`,
    )
    console.log('run         handshakes  conc  auth/s  auth/CPU-s  p50 ms  p99 ms  failures')
    for (const r of results) {
      console.log(
        `${r.label.padEnd(11)} ${String(r.handshakes).padStart(10)}  ${String(r.concurrency).padStart(4)}  ${f(r.perSecond).padStart(6)}  ${f(r.perCpuSecond).padStart(10)}  ${f(r.p50Ms).padStart(6)}  ${f(r.p99Ms).padStart(6)}  ${r.failures}`,
      )
    }
    console.log(
      `planned → authenticated: ${PAIRS} pairs allowed at once: p50 ${f(planned.p50Ms)} ms, p99 ${f(planned.p99Ms)} ms, all in ${f(planned.allAuthenticatedMs)} ms`,
    )
    console.log(`server outcomes: ${serverOk} ok, ${serverFailed} failed`)
    await mkdir('bench-results', { recursive: true })
    const out = {
      benchmark: 'pairauth',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      note: 'client and server in one process on loopback: per-CPU-second counts both ends of each authentication',
      runs: results,
      plannedToAuthenticated: planned,
      serverOutcomes: { ok: serverOk, failed: serverFailed },
    }
    await writeFile('bench-results/pairauth.json', `${JSON.stringify(out, null, 2)}\n`)
    console.log('wrote bench-results/pairauth.json')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()

/**
 * `scripts/bench-cni [--workloads 100] [--concurrency 100] [--cpu-prof DIR] [--json PATH]` (issue 13):
 * workloads that come and go, measured on the real lab (2 nodes × 1 workload, --enforce). The policy
 * allows each new workload node2-bNNNN → node1-w1; then N CNI ADDs through the real chain (Debian's
 * ptp + host-local, then latch-cni, invoked as a runtime does: `lab workload add`'s code path) run
 * with at most --concurrency in flight (N ≤ concurrency: one burst; N > concurrency: a stream, each
 * finished ADD making room for the next). An ADD returns when latch-cni saw the workload's allowed
 * pair authenticated on both nodes, so "ADD → ready" is its duration. Reported: ADD → ready p50 /
 * p99 / max and the wall time of all N; pair authentications per CPU-second (the new pairs over the
 * utime+stime of both latchd processes during the ADDs: registration, SVID issue, datapath attach
 * and the pair handshakes on both ends); node2's latchd RSS before, with the N registered (and
 * VmHWM), and after DEL of all; DEL p50/p99. CNI workloads get addresses of node2's CNI CIDR
 * 10.130.0.0/20 (host-local hands out 4081, plan.ts `cniRangeOf`), so N goes up to that. The RSS
 * growth is per registration between 0 and N (heap high-water included: the RSS after the DELs tells).
 * --cpu-prof DIR runs node2's latchd under `node --cpu-prof` (lab up's `latchdNodeArgs`); at the end
 * its profile is written to DIR and summarised for the window of the ADDs (scripts/cpuprofile-top.ts):
 * top functions by self time, top files, top functions including callees.
 * Root; takes the lab down first and at the end. Prints a table and writes JSON (default
 * bench-results/cni.json).
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parse, stringify } from 'yaml'
import { inParallel } from '../daemon/base/in-parallel.js'
import { fetchStatus } from '../daemon/control/client.js'
import { table } from '../daemon/control/text-table.js'
import { labCniAdd, labCniRemove } from '../daemon/lab/cni-workloads.js'
import { labDown, labUp } from '../daemon/lab/index.js'
import { MAX_CNI_WORKLOADS } from '../daemon/lab/plan.js'
import { LAB_POLICY_FILE } from '../daemon/lab/policy.js'
import { killAndWait } from '../daemon/lab/procs.js'
import { machine } from './benchmark/machine.js'
import { REPO } from './benchmark/paths.js'
import { cpuSecondsOf, statusKb } from './benchmark/procfs.js'
import { type CpuProfile, formatSummary, summarise } from './cpuprofile-top.js'

const { values } = parseArgs({
  options: {
    workloads: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '100' },
    'cpu-prof': { type: 'string' },
    json: { type: 'string', default: join(REPO, 'bench-results', 'cni.json') },
  },
})
const N = Number(values.workloads)
const CONCURRENCY = Number(values.concurrency)
if (!Number.isInteger(N) || N < 1 || N > MAX_CNI_WORKLOADS)
  throw new Error(`--workloads: 1 … ${MAX_CNI_WORKLOADS} (what host-local hands out of node2's CNI CIDR)`)
const PROF_DIR = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof'])
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) throw new Error('--concurrency: a positive integer')

const name = (i: number) => `b${String(i).padStart(4, '0')}`

async function memory(pid: number): Promise<{ rssMiB: number; hwmMiB: number }> {
  const mib = async (field: 'VmRSS' | 'VmHWM') =>
    +(((await statusKb(pid, field)) ?? Number.NaN) / 1024).toFixed(1)
  return { rssMiB: await mib('VmRSS'), hwmMiB: await mib('VmHWM') }
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function main(): Promise<void> {
  await labDown()
  try {
    if (PROF_DIR) await mkdir(PROF_DIR, { recursive: true })
    const up = await labUp({
      nodes: 2,
      workloads: 1,
      enforce: true,
      ...(PROF_DIR && { latchdNodeArgs: { node2: ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] } }),
    })
    const [n1, n2] = up.plan.nodes
    const [pid1, pid2] = up.daemons.map((d) => d.pid)
    if (!n1 || !n2 || pid1 === undefined || pid2 === undefined) throw new Error('the lab has no two nodes')
    const target = n1.workloads[0]?.spiffeId
    if (target === undefined) throw new Error('node1 has no workload')
    const ids = Array.from(
      { length: N },
      (_, i) => `spiffe://${up.plan.trustDomain}/ns/lab/sa/node2-${name(i)}`,
    )

    // the policy allows every new workload → node1-w1; wait until both daemons run it
    const digest = async (s: string) => (await fetchStatus(s)).pairAuth?.policy.digest
    const old = [await digest(n1.controlSocket), await digest(n2.controlSocket)]
    const policy = parse(await readFile(LAB_POLICY_FILE, 'utf8')) as {
      allow: Array<{ from: string; to: string }>
    }
    policy.allow.push(...ids.map((from) => ({ from, to: target })))
    await writeFile(`${LAB_POLICY_FILE}.tmp-bench`, stringify(policy))
    await rename(`${LAB_POLICY_FILE}.tmp-bench`, LAB_POLICY_FILE)
    for (let i = 0; ; i++) {
      const now = [await digest(n1.controlSocket), await digest(n2.controlSocket)]
      if (now[0] !== old[0] && now[0] === now[1]) break
      if (i > 300) throw new Error('the daemons did not take the benchmark policy within 30 s')
      await sleep(100)
    }
    await sleep(1000)

    const rss0 = await memory(pid2)
    const cpu0 = await cpuSecondsOf([pid1, pid2])
    const addMs: number[] = []
    const failures: string[] = []
    const t0 = performance.now()
    const profFrom = Number(process.hrtime.bigint() / 1000n)
    await inParallel(
      Array.from({ length: N }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const s = performance.now()
        try {
          await labCniAdd('node2', name(i))
          addMs.push(performance.now() - s)
        } catch (err) {
          failures.push(`${name(i)}: ${(err as Error).message.split('\n')[0]}`)
        }
      },
    )
    const wallMs = performance.now() - t0
    const profTo = Number(process.hrtime.bigint() / 1000n)
    const cpu = (await cpuSecondsOf([pid1, pid2])) - cpu0
    await sleep(2000)
    const rssN = await memory(pid2)

    const delMs: number[] = []
    await inParallel(
      Array.from({ length: N }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const s = performance.now()
        await labCniRemove('node2', name(i)).catch(() => false)
        delMs.push(performance.now() - s)
      },
    )
    await sleep(2000)
    const rssAfter = await memory(pid2)
    const profile = PROF_DIR ? await stopAndSummarise(pid2, PROF_DIR, profFrom, profTo) : undefined

    const add = [...addMs].sort((a, b) => a - b)
    const del = [...delMs].sort((a, b) => a - b)
    const ready = add.length
    const result = {
      date: new Date().toISOString(),
      machine: await machine(),
      workloads: N,
      concurrency: CONCURRENCY,
      ready,
      failures,
      addToReadyMs: {
        p50: +pct(add, 50).toFixed(0),
        p99: +pct(add, 99).toFixed(0),
        max: +(add.at(-1) ?? Number.NaN).toFixed(0),
      },
      burstWallMs: +wallMs.toFixed(0),
      latchdCpuSeconds: +cpu.toFixed(2),
      pairAuthPerCpuSecond: +(ready / cpu).toFixed(1),
      delMs: { p50: +pct(del, 50).toFixed(0), p99: +pct(del, 99).toFixed(0) },
      node2Rss: {
        before: rss0.rssMiB,
        registered: rssN.rssMiB,
        peak: rssN.hwmMiB,
        afterDel: rssAfter.rssMiB,
      },
      rssPerRegistrationKiB: +(((rssN.rssMiB - rss0.rssMiB) * 1024) / N).toFixed(0),
      ...(profile && { cpuProfile: profile }),
      note:
        'ADD → ready: labCniAdd (netns + ptp + host-local + latch-cni, which returns once the pair is authenticated on both nodes); ' +
        'pair auths per CPU-s: ready workloads (one allowed pair each) over utime+stime of both latchd during the burst, registration and SVID issue included',
    }
    console.log(
      table([
        ['figure', 'value'],
        [
          `${N} CNI ADDs (≤${CONCURRENCY} in flight): ready`,
          `${ready}/${N}${failures.length ? ` (${failures.length} failed)` : ''}`,
        ],
        [
          'ADD → ready p50 / p99 / max (ms)',
          `${result.addToReadyMs.p50} / ${result.addToReadyMs.p99} / ${result.addToReadyMs.max}`,
        ],
        ['burst wall time (ms)', String(result.burstWallMs)],
        [
          'pair authentications per latchd CPU-second',
          `${result.pairAuthPerCpuSecond} (${result.latchdCpuSeconds} CPU-s)`,
        ],
        ['DEL p50 / p99 (ms)', `${result.delMs.p50} / ${result.delMs.p99}`],
        [
          `node2 latchd RSS: 0 → ${N} registered → after DEL (MiB)`,
          `${rss0.rssMiB} → ${rssN.rssMiB} → ${rssAfter.rssMiB} (peak ${rssN.hwmMiB})`,
        ],
        ['RSS per registered workload (KiB)', String(result.rssPerRegistrationKiB)],
      ]),
    )
    for (const f of failures.slice(0, 5)) console.log(`failed: ${f}`)
    if (profile) console.log(`\nnode2 latchd during the ADDs (${profile.file}):\n${formatSummary(profile)}`)
    const out = resolve(values.json ?? '')
    await mkdir(dirname(out), { recursive: true })
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`wrote ${out}`)
    if (ready < N) process.exitCode = 1
  } finally {
    await labDown()
  }
}

/**
 * Stops node2's latchd (SIGTERM: it exits and Node writes the profile), then summarises the newest
 * profile in `dir` for the window of the ADDs.
 */
async function stopAndSummarise(pid: number, dir: string, from: number, to: number) {
  const before = Date.now()
  await killAndWait([pid], 60_000)
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))
  const stats = await Promise.all(files.map(async (f) => ({ f, m: (await stat(join(dir, f))).mtimeMs })))
  const newest = stats.filter((s) => s.m >= before - 1000).sort((a, b) => b.m - a.m)[0]
  if (!newest) throw new Error(`node2's latchd wrote no .cpuprofile into ${dir}`)
  const file = join(dir, newest.f)
  const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  return { file, window: { from, to }, ...summarise(p, { from, to, top: 15 }) }
}

await main()

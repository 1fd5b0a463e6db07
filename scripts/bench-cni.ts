/**
 * `scripts/bench-cni [--workloads 100] [--concurrency 100] [--json PATH]` (issue 13): workloads that
 * come and go, measured on the real lab (2 nodes × 1 workload, --enforce). The policy allows each
 * new workload node2-bNNN → node1-w1; then N CNI ADDs through the real chain (Debian's ptp +
 * host-local, then latch-cni, invoked as a runtime does: `lab workload add`'s code path) start at
 * once, at most --concurrency in flight. An ADD returns when latch-cni saw the workload's allowed
 * pair authenticated on both nodes, so "ADD → ready" is its duration. Reported: ADD → ready p50 /
 * p99 / max and the burst's wall time; pair authentications per CPU-second (the new pairs over the
 * utime+stime of both latchd processes during the burst: registration, SVID issue, datapath
 * attach and the pair handshakes on both ends); node2's latchd RSS before, with the N registered
 * (and VmHWM), and after DEL of all; DEL p50/p99. The lab's workload CIDR is a /24 (host-local
 * hands out .100–.250), so one lab node holds at most 151 CNI workloads; the RSS growth is per
 * registration between 0 and N (heap high-water included: the RSS after the DELs tells). Root; takes the lab down first and at the end. Prints a table and
 * writes JSON (default bench-results/cni.json).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parse, stringify } from 'yaml'
import { inParallel } from '../daemon/base/in-parallel.js'
import { fetchStatus } from '../daemon/control/client.js'
import { table } from '../daemon/control/text-table.js'
import { labCniAdd, labCniRemove } from '../daemon/lab/cni-workloads.js'
import { labDown, labUp } from '../daemon/lab/index.js'
import { LAB_POLICY_FILE } from '../daemon/lab/policy.js'
import { machine } from './benchmark/machine.js'
import { REPO } from './benchmark/paths.js'
import { cpuSecondsOf, statusKb } from './benchmark/procfs.js'

const { values } = parseArgs({
  options: {
    workloads: { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '100' },
    json: { type: 'string', default: join(REPO, 'bench-results', 'cni.json') },
  },
})
const N = Number(values.workloads)
const CONCURRENCY = Number(values.concurrency)
if (!Number.isInteger(N) || N < 1 || N > 151)
  throw new Error('--workloads: 1 … 151 (host-local hands out .100–.250)')
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) throw new Error('--concurrency: a positive integer')

const name = (i: number) => `b${String(i).padStart(3, '0')}`

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
    const up = await labUp({ nodes: 2, workloads: 1, enforce: true })
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
      note:
        'ADD → ready: labCniAdd (netns + ptp + host-local + latch-cni, which returns once the pair is authenticated on both nodes); ' +
        'pair auths per CPU-s: ready workloads (one allowed pair each) over utime+stime of both latchd during the burst, registration and SVID issue included',
    }
    console.log(
      table([
        ['figure', 'value'],
        [
          `${N} CNI ADDs (≤${CONCURRENCY} at once): ready`,
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
    const out = resolve(values.json ?? '')
    await mkdir(dirname(out), { recursive: true })
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`wrote ${out}`)
    if (ready < N) process.exitCode = 1
  } finally {
    await labDown()
  }
}

await main()

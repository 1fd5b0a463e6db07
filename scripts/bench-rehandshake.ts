/**
 * `scripts/bench-rehandshake`: how long a legitimate peer's re-handshake takes while node2's
 * listeners are attacked (issue 11's "within 2× its unloaded time"), as same-run ratios.
 *
 * A 2-node lab with enforcement. Each round runs three conditions, in a rotating order:
 *  - unloaded: nothing else runs;
 *  - attacker CPU only: the attacker of test/e2e/helpers/flood.ts (5000 idle, 500 slowloris, a paced
 *    flood of 2000/s up to node2's open-file limit) runs with the same plan against a sink in the
 *    underlay namespace that accepts every connection and sheds the oldest beyond 1024 per port — the
 *    machine carries the attacker's own load, latchd is not attacked;
 *  - attack: the same attacker against node2's 7443 and (routed outside WireGuard) 7444.
 * 2.5 s into the attack node1's latchd is killed with SIGKILL and started again; the figure is node1's
 * handshake with node2 as node1 logged it (TCP connect to session, `durationMs`) and the time from
 * node1's first log line to that session. Between conditions the attacker is killed and node2's
 * open files are let back to their baseline. Prints a table and writes bench-results/rehandshake.json.
 *
 *   flock /run/latch-lab-user.lock scripts/bench-rehandshake [--rounds N]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa, type ResultPromise } from 'execa'
import { labDown, labUp } from '../daemon/lab/index.js'
import { cpuSeconds, labPids, openFiles, sleep, until } from '../test/e2e/helpers/poll.js'
import { type Rehandshake, rehandshake } from '../test/e2e/helpers/rehandshake.js'

const ROOT = join(import.meta.dirname, '..')
const FLOOD = join(ROOT, 'test', 'e2e', 'helpers', 'flood.ts')
const SINK = join(ROOT, 'scripts', 'bench-rehandshake-sink.ts')
const SOURCES = Array.from({ length: 8 }, (_, i) => `10.99.0.${240 + i}`)
const SINK_IP = '10.99.0.250'

type Condition = 'unloaded' | 'attacker_cpu' | 'attack'
const CONDITIONS: Condition[] = ['unloaded', 'attacker_cpu', 'attack']

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}

const underlay = (argv: string[]) =>
  execa('ip', ['netns', 'exec', 'latch-underlay', ...argv], { reject: false })

interface Sample extends Rehandshake {
  condition: Condition
  /** node2's latchd CPU seconds from the attacker's start to node1's session. */
  node2CpuS: number
  /** node2's most open files while the condition ran (sampled every 100 ms). */
  node2PeakFds: number
}

/** A TypeScript script of the project run in the underlay namespace (attacker, sink). */
function inUnderlay(script: string, args: string[]): ResultPromise {
  const argv = ['netns', 'exec', 'latch-underlay', process.execPath, '--import', 'tsx', script, ...args]
  return execa('ip', argv, { reject: false, cwd: ROOT })
}

function attacker(targets: Array<{ host: string; port: number }>, flood: number): ResultPromise {
  const plan = { targets, sources: SOURCES, idle: 5000, slowloris: 500, flood, rate: 2000, holdMs: 600_000 }
  return inUnderlay(FLOOD, [JSON.stringify(plan)])
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function measure(rounds: number): Promise<Sample[]> {
  const report = await labUp({ nodes: 2, workloads: 1, enforce: true })
  const node2 = report.plan.nodes.find((n) => n.name === 'node2')!
  const node1Log = report.plan.nodes.find((n) => n.name === 'node1')!.logFile
  const restart = () =>
    rehandshake({ dialer: 'node1', peer: 'node2', logFile: node1Log, up: { enforce: true }, ms: 60_000 })
  let sink: ResultPromise | undefined
  const samples: Sample[] = []
  try {
    for (const ip of [...SOURCES, SINK_IP])
      await underlay(['ip', 'addr', 'replace', `${ip}/24`, 'dev', 'latchbr0'])
    await underlay(['ip', 'route', 'replace', node2.tunnelAddress, 'via', node2.underlayIp])
    sink = inUnderlay(SINK, [SINK_IP, '7443', '7444'])
    const pid2 = (await labPids()).node2!
    const limit = Number(/^Max open files\s+(\d+)/m.exec(await readFile(`/proc/${pid2}/limits`, 'utf8'))?.[1])
    await restart() // warm-up: every code path loaded once
    await sleep(2000)
    const baseFds = await openFiles(pid2)
    const tunnelIp = node2.tunnelAddress.split('/')[0]!
    const targets: Record<Exclude<Condition, 'unloaded'>, Array<{ host: string; port: number }>> = {
      attack: [
        { host: node2.underlayIp, port: 7443 },
        { host: tunnelIp, port: 7444 },
      ],
      attacker_cpu: [
        { host: SINK_IP, port: 7443 },
        { host: SINK_IP, port: 7444 },
      ],
    }
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < CONDITIONS.length; k++) {
        const condition = CONDITIONS[(r + k) % CONDITIONS.length]!
        const cpu0 = await cpuSeconds(pid2)
        const flood = condition === 'unloaded' ? undefined : attacker(targets[condition], limit)
        let peak = 0
        const sampler = setInterval(() => {
          openFiles(pid2).then(
            (n) => {
              peak = Math.max(peak, n)
            },
            () => undefined,
          )
        }, 100)
        try {
          if (flood) await sleep(2500)
          const t = await restart()
          samples.push({ condition, ...t, node2CpuS: (await cpuSeconds(pid2)) - cpu0, node2PeakFds: peak })
          process.stderr.write(
            `round ${r + 1} ${condition}: ${t.handshakeMs} ms (from start ${t.fromStartMs} ms, node2 peak fds ${peak})\n`,
          )
        } finally {
          clearInterval(sampler)
          flood?.kill('SIGKILL')
          await flood
        }
        await until(
          'node2 open files back to baseline',
          async () => (await openFiles(pid2)) <= baseFds + 4,
          30_000,
        )
        await sleep(1000)
      }
    }
  } finally {
    sink?.kill('SIGKILL')
    await sink
    await underlay(['ip', 'route', 'del', node2.tunnelAddress])
    for (const ip of [...SOURCES, SINK_IP])
      await underlay(['ip', 'addr', 'del', `${ip}/24`, 'dev', 'latchbr0'])
    await labDown()
  }
  return samples
}

async function main(): Promise<void> {
  const samples = await measure(arg('--rounds', 5))
  const rows = CONDITIONS.map((c) => {
    const s = samples.filter((x) => x.condition === c)
    return {
      condition: c,
      n: s.length,
      handshakeMsMedian: median(s.map((x) => x.handshakeMs)),
      handshakeMsMax: Math.max(...s.map((x) => x.handshakeMs)),
      fromStartMsMedian: median(s.map((x) => x.fromStartMs)),
      node2CpuSMedian: median(s.map((x) => x.node2CpuS)),
      node2PeakFdsMedian: median(s.map((x) => x.node2PeakFds)),
    }
  })
  const by = (c: Condition) => rows.find((r) => r.condition === c)!
  const ratios = {
    attackVsUnloaded: by('attack').handshakeMsMedian / by('unloaded').handshakeMsMedian,
    attackVsAttackerCpu: by('attack').handshakeMsMedian / by('attacker_cpu').handshakeMsMedian,
    attackerCpuVsUnloaded: by('attacker_cpu').handshakeMsMedian / by('unloaded').handshakeMsMedian,
    fromStartAttackVsUnloaded: by('attack').fromStartMsMedian / by('unloaded').fromStartMsMedian,
  }
  console.log('\nre-handshake of node1 into node2 (median of rounds; target: attack ≤ 2× unloaded)')
  console.log('condition      n  handshake ms (median/max)  from start ms  node2 CPU s  node2 peak fds')
  for (const r of rows)
    console.log(
      `${r.condition.padEnd(13)} ${String(r.n).padStart(2)}  ${`${r.handshakeMsMedian.toFixed(0)} / ${r.handshakeMsMax}`.padStart(24)}  ${r.fromStartMsMedian.toFixed(0).padStart(13)}  ${r.node2CpuSMedian.toFixed(2).padStart(11)}  ${String(r.node2PeakFdsMedian).padStart(14)}`,
    )
  console.log(
    `ratios: attack/unloaded ${ratios.attackVsUnloaded.toFixed(2)}×, attack/attacker-CPU-only ${ratios.attackVsAttackerCpu.toFixed(2)}×, attacker-CPU-only/unloaded ${ratios.attackerCpuVsUnloaded.toFixed(2)}×`,
  )
  await mkdir(join(ROOT, 'bench-results'), { recursive: true })
  await writeFile(
    join(ROOT, 'bench-results', 'rehandshake.json'),
    `${JSON.stringify({ when: new Date().toISOString(), rounds: samples.length / 3, rows, ratios, samples }, null, 2)}\n`,
  )
}

await main()

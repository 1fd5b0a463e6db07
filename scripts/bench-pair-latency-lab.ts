/**
 * `scripts/bench-pair-latency --lab`: the same question as the loopback mode, asked of the REAL lab —
 * one latchd per node (its own network and mount namespace), pair-auth handshakes through the
 * WireGuard tunnel, entries written into the pinned eBPF `auth` maps. A lab of 2 nodes × W workloads
 * (default 15: 225 cross-node pairs) comes up with --enforce; a policy that allows nothing is written
 * and settles; then ONE policy write allows every node1-wi → node2-wj pair. Both daemons' `auth_list`
 * (their BPF maps, through the control sockets) are polled every --poll-ms with timestamps: a pair's
 * latency is the first poll that sees all four entries (both directions on both nodes), minus the
 * write. CPU: utime+stime of both latchd processes (/proc/PID/stat) over the run, so
 * authentications per CPU-second count each pair's work on both ends (client and server).
 * The lab is taken down at the end (always).
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { authRequest } from '../daemon/control/datapath-client.js'
import { labDown, labUp } from '../daemon/lab/index.js'
import { LAB_POLICY_FILE } from '../daemon/lab/policy.js'
import { cpuSecondsOf } from './benchmark/procfs.js'

export interface LabBenchOptions {
  workloads: number
  pollMs: number
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
}

/** Writes the policy (temp file + rename); returns when it was renamed: performance.now() and wall clock. */
async function writePolicy(text: string): Promise<{ at: number; wall: number }> {
  await writeFile(`${LAB_POLICY_FILE}.tmp-bench`, text)
  const at = performance.now()
  const wall = Date.now()
  await rename(`${LAB_POLICY_FILE}.tmp-bench`, LAB_POLICY_FILE)
  return { at, wall }
}

/**
 * Per pair, when the LATER of the two daemons logged `pair_authenticated` (the moment it queued the
 * datapath writes), in ms since the epoch: the daemon's own view, free of the polling's resolution.
 */
async function loggedAt(logFiles: string[], since: number): Promise<Map<string, number>> {
  const perNode = await Promise.all(
    logFiles.map(async (f) => {
      const m = new Map<string, number>()
      for (const line of (await readFile(f, 'utf8')).split('\n')) {
        if (!line.includes('"pair_authenticated"')) continue
        const e = JSON.parse(line) as { time: string; local: string; remote: string }
        const t = Date.parse(e.time)
        const k = [e.local, e.remote].sort().join(' ')
        if (t >= since && !m.has(k)) m.set(k, t)
      }
      return m
    }),
  )
  const out = new Map<string, number>()
  for (const [k, t] of perNode[0] ?? []) {
    const others = perNode.slice(1).map((m) => m.get(k))
    if (others.every((x) => x !== undefined)) out.set(k, Math.max(t, ...(others as number[])))
  }
  return out
}

export async function benchLab(o: LabBenchOptions): Promise<Record<string, unknown>> {
  await labDown()
  try {
    const up = await labUp({ nodes: 2, workloads: o.workloads, enforce: true })
    const [n1, n2] = up.plan.nodes
    if (!n1 || !n2) throw new Error('the lab has no two nodes')
    const pids = up.daemons.map((d) => d.pid)
    const sockets = [n1.controlSocket, n2.controlSocket]
    const td = up.plan.trustDomain
    const header = `version: 1\ntrustDomain: ${td}\n`
    // settle: nothing allowed, no entries left, daemons idle
    await writePolicy(`${header}allow: []\n`)
    for (let i = 0; ; i++) {
      const lists = await Promise.all(sockets.map((s) => authRequest(s, { cmd: 'auth_list' })))
      if (lists.every((l) => l.length === 0)) break
      if (i > 200) throw new Error('auth entries did not go away under an empty policy')
      await new Promise((r) => setTimeout(r, 50))
    }
    await new Promise((r) => setTimeout(r, 2000))

    const pairs = n1.workloads.flatMap((a) => n2.workloads.map((b) => [a.spiffeId, b.spiffeId] as const))
    const rules = pairs.map(([a, b]) => `  - from: ${a}\n    to: ${b}\n`).join('')
    const seenAt = new Map<string, number>()
    const key = (a: string, b: string) => `${a} ${b}`
    let polls = 0
    const cpu0 = await cpuSecondsOf(pids)
    const { at: t0, wall: wall0 } = await writePolicy(`${header}allow:\n${rules}`)
    const deadline = t0 + 120_000
    while (seenAt.size < pairs.length && performance.now() < deadline) {
      const lists = await Promise.all(sockets.map((s) => authRequest(s, { cmd: 'auth_list' })))
      const at = performance.now()
      polls++
      const sets = lists.map((l) => new Set(l.map((e) => key(e.src, e.dst))))
      for (const [a, b] of pairs) {
        if (seenAt.has(key(a, b))) continue
        if (sets.every((s) => s.has(key(a, b)) && s.has(key(b, a)))) seenAt.set(key(a, b), at)
      }
      await new Promise((r) => setTimeout(r, o.pollMs))
    }
    const t1 = performance.now()
    const cpu = (await cpuSecondsOf(pids)) - cpu0
    const lat = [...seenAt.values()].map((t) => t - t0).sort((x, y) => x - y)
    const logged = await loggedAt([n1.logFile, n2.logFile], wall0)
    const logLat = pairs
      .flatMap(([a, b]) => {
        const t = logged.get([a, b].sort().join(' '))
        return t === undefined ? [] : [t - wall0]
      })
      .sort((x, y) => x - y)
    const result = {
      mode: 'lab',
      nodes: 2,
      workloadsPerNode: o.workloads,
      pairs: pairs.length,
      authenticated: lat.length,
      missing: pairs.length - lat.length,
      pollMs: o.pollMs,
      polls,
      policyDebounceMs: 200,
      latencyMs: {
        p50: +pct(lat, 50).toFixed(1),
        p99: +pct(lat, 99).toFixed(1),
        max: +(lat.at(-1) ?? Number.NaN).toFixed(1),
      },
      loggedLatencyMs: {
        pairs: logLat.length,
        p50: pct(logLat, 50),
        p99: pct(logLat, 99),
        max: logLat.at(-1) ?? Number.NaN,
      },
      wallSeconds: +((t1 - t0) / 1000).toFixed(3),
      authPerSecond: +(lat.length / ((t1 - t0) / 1000)).toFixed(1),
      latchdCpuSeconds: +cpu.toFixed(2),
      authPerCpuSecond: +(lat.length / cpu).toFixed(1),
      note:
        'latency = policy write (rename) -> first auth_list poll showing all 4 BPF auth entries of the pair on both nodes; ' +
        'loggedLatency = policy write -> the later pair_authenticated log line of the two daemons (ms resolution); ' +
        'CPU = utime+stime of both latchd over the run (client + server work of each pair, plus the polling it answered)',
    }
    return result
  } finally {
    await labDown()
  }
}

/**
 * The kernel enforces the policy as written, in the lab (issue 10): a directional, port-limited
 * policy and the whole reachability matrix it implies — TCP, UDP and ICMP, both directions,
 * cross-node (A on node1, C on node2) and same-node (A and B on node1), and the node's own probe
 * (`from: node`) — each cell asserting the outcome AND the datapath counter that moved on the node
 * that decided it (the source end for workload traffic). Then an established TCP stream A → C stops
 * within 1 s of its rule's removal from the policy file (the watcher's debounce included).
 *
 * The test replaces the lab's sample policy (hot-reloaded) and puts it back at the end.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { stringify } from 'yaml'
import { scaled } from '../../daemon/base/time-scale.js'
import { LAB_POLICY_FILE } from '../../daemon/lab/policy.js'
import { labExec, labSpawn, useLab } from './helpers/lab.js'
import { until } from './helpers/poll.js'

const CLI = join(process.cwd(), 'dist', 'daemon', 'cli', 'main.js')
const lab = useLab(test, { nodes: 2, workloads: 2, enforce: true })

function ctl(node: string, args: string[]) {
  return labExec(node, [process.execPath, CLI, ...args, '--socket', lab().node(node).controlSocket])
}

async function stats(node: string): Promise<Record<string, number>> {
  const r = await ctl(node, ['status', '--json'])
  if (r.exitCode !== 0) throw new Error(r.stderr)
  const s = JSON.parse(r.stdout) as { datapath?: { stats: Array<{ reason: string; packets: number }> } }
  return Object.fromEntries((s.datapath?.stats ?? []).map((x) => [x.reason, x.packets]))
}

type Proto = 'tcp' | 'udp' | 'icmp'

/** One probe from a workload or a node; true when it got its answer. */
async function probe(from: string, to: string, proto: Proto, port: number): Promise<boolean> {
  if (proto === 'icmp')
    return (await labExec(from, ['ping', '-c1', '-W1', to], { timeoutMs: 5000 })).exitCode === 0
  const addr = proto === 'tcp' ? `TCP:${to}:${port},connect-timeout=2` : `UDP:${to}:${port}`
  const r = await labExec(from, ['socat', '-T2', '-', addr], { input: `probe-${proto}\n`, timeoutMs: 6000 })
  return r.stdout.trim() === `probe-${proto}`
}

interface Cell {
  from: string
  to: string
  proto: Proto
  port: number
  pass: boolean
  /** the node whose counter moves, and which counter */
  node: string
  counter: string
}

/** Workloads, policy, listeners: set up once by the first test (each test stays under ava's 2 min). */
interface World {
  A: ReturnType<LabHandleT['workload']>
  B: ReturnType<LabHandleT['workload']>
  C: ReturnType<LabHandleT['workload']>
  rules: Array<{ from: string; to: string; ports: string[] }>
  write(allow: World['rules']): Promise<void>
  listeners: Map<string, { child: { kill(): boolean } }>
}
type LabHandleT = ReturnType<typeof lab>
let world: Promise<World> | undefined
let sample: string | undefined

test.after.always(async () => {
  if (sample !== undefined) await writeFile(LAB_POLICY_FILE, sample)
})

function prepared(): Promise<World> {
  world ??= (async () => {
    const A = lab().workload('node1-w1')
    const B = lab().workload('node1-w2') // same node as A
    const C = lab().workload('node2-w1')
    sample = await readFile(LAB_POLICY_FILE, 'utf8')
    const rules = [
      { from: A.spiffeId, to: C.spiffeId, ports: ['tcp/5001', 'udp/5002', 'icmp'] },
      { from: A.spiffeId, to: B.spiffeId, ports: ['tcp/5001'] },
      { from: 'node', to: A.spiffeId, ports: ['tcp/5001'] },
    ]
    const write = (allow: typeof rules) =>
      writeFile(LAB_POLICY_FILE, stringify({ version: 1, trustDomain: lab().plan.trustDomain, allow }))
    const listeners = new Map<string, { child: { kill(): boolean } }>()
    for (const w of [A, B, C]) {
      listeners.set(
        w.name,
        await labSpawn(w.name, ['socat', 'TCP-LISTEN:5001,fork,reuseaddr', 'EXEC:/bin/cat']),
      )
      await labSpawn(w.name, ['socat', 'TCP-LISTEN:5003,fork,reuseaddr', 'EXEC:/bin/cat'])
      await labSpawn(w.name, ['socat', 'UDP-RECVFROM:5002,fork', 'EXEC:/bin/cat'])
    }
    await write(rules)
    await until('the new policy in force (A → C ping, A → B TCP)', async () => {
      return (await probe(A.name, C.ip, 'icmp', 0)) && (await probe(A.name, B.ip, 'tcp', 5001))
    })
    return { A, B, C, rules, write, listeners }
  })()
  return world
}

async function matrix(t: ExecutionContext, cells: Cell[]): Promise<void> {
  for (const c of cells) {
    const what = `${c.from} → ${c.to} ${c.proto}${c.port ? `/${c.port}` : ''}`
    const before = await stats(c.node)
    const got = await probe(c.from, c.to, c.proto, c.port)
    const movedBy = ((await stats(c.node))[c.counter] ?? 0) - (before[c.counter] ?? 0)
    t.log(`${what}: ${got ? 'answered' : 'no answer'}, ${c.counter} on ${c.node} +${movedBy}`)
    t.is(got, c.pass, `${what}: ${c.pass ? 'allowed but it failed' : 'denied but it got an answer'}`)
    t.true(movedBy >= 1, `${what}: ${c.counter} on ${c.node} moved by ${movedBy}`)
  }
}

const n1 = 'node1'
const n2 = 'node2'

test.serial(
  'cross-node: the rule A → C passes its protocols and ports only; C → A is drop_reverse',
  async (t) => {
    const { A, C } = await prepared()
    await matrix(t, [
      // the rule's direction, counted where it arrives
      { from: A.name, to: C.ip, proto: 'tcp', port: 5001, pass: true, node: n2, counter: 'allowed' },
      { from: A.name, to: C.ip, proto: 'udp', port: 5002, pass: true, node: n2, counter: 'allowed' },
      { from: A.name, to: C.ip, proto: 'icmp', port: 0, pass: true, node: n2, counter: 'allowed' },
      {
        from: A.name,
        to: C.ip,
        proto: 'tcp',
        port: 5003,
        pass: false,
        node: n1,
        counter: 'drop_port_not_allowed',
      },
      // the other direction: no rule that way (dropped at its source, node2)
      { from: C.name, to: A.ip, proto: 'tcp', port: 5001, pass: false, node: n2, counter: 'drop_reverse' },
      { from: C.name, to: A.ip, proto: 'udp', port: 5002, pass: false, node: n2, counter: 'drop_reverse' },
      { from: C.name, to: A.ip, proto: 'icmp', port: 0, pass: false, node: n2, counter: 'drop_reverse' },
    ])
  },
)

test.serial(
  'same-node (A → B tcp/5001 only), no rule (B ↔ C) and the node probe (from: node → A tcp/5001)',
  async (t) => {
    const { A, B, C } = await prepared()
    await matrix(t, [
      { from: A.name, to: B.ip, proto: 'tcp', port: 5001, pass: true, node: n1, counter: 'allowed' },
      {
        from: A.name,
        to: B.ip,
        proto: 'udp',
        port: 5002,
        pass: false,
        node: n1,
        counter: 'drop_port_not_allowed',
      },
      {
        from: A.name,
        to: B.ip,
        proto: 'icmp',
        port: 0,
        pass: false,
        node: n1,
        counter: 'drop_port_not_allowed',
      },
      { from: B.name, to: A.ip, proto: 'tcp', port: 5001, pass: false, node: n1, counter: 'drop_reverse' },
      { from: B.name, to: A.ip, proto: 'icmp', port: 0, pass: false, node: n1, counter: 'drop_reverse' },
      { from: B.name, to: C.ip, proto: 'tcp', port: 5001, pass: false, node: n1, counter: 'drop_no_rule' },
      { from: B.name, to: C.ip, proto: 'icmp', port: 0, pass: false, node: n1, counter: 'drop_no_rule' },
      // the node's own stack: A on tcp/5001 only, nothing to B; node2 has no `from: node` rule
      { from: n1, to: A.ip, proto: 'tcp', port: 5001, pass: true, node: n1, counter: 'allowed' },
      { from: n1, to: A.ip, proto: 'icmp', port: 0, pass: false, node: n1, counter: 'drop_port_not_allowed' },
      { from: n1, to: B.ip, proto: 'tcp', port: 5001, pass: false, node: n1, counter: 'drop_no_rule' },
      { from: n2, to: C.ip, proto: 'icmp', port: 0, pass: false, node: n2, counter: 'drop_no_rule' },
    ])
  },
)

test.serial(
  "an established TCP stream A → C stops within 1 s of its rule's removal from the policy file",
  async (t) => {
    const { A, C, rules, write, listeners } = await prepared()
    // an established TCP stream A → C stops within 1 s of its rule's removal (on tcp/5001, the
    // rule's port: C's echo listener makes way for a sink)
    listeners.get(C.name)?.child.kill()
    await new Promise((r) => setTimeout(r, scaled(300)))
    const sink = await labSpawn(C.name, ['socat', '-u', 'TCP-LISTEN:5001,reuseaddr', 'STDOUT'])
    await new Promise((r) => setTimeout(r, scaled(300)))
    const stream = await labSpawn(A.name, [
      'sh',
      '-c',
      `while :; do date +%s.%N; sleep 0.02; done | socat -u - TCP:${C.ip}:5001`,
    ])
    let received = ''
    sink.child.stdout?.on('data', (d: Buffer) => {
      received += d.toString()
    })
    await until('the stream flowing', async () => received.split('\n').length > 20)
    const before2 = await stats(n2)
    await write(rules.filter((r) => r.to !== C.spiffeId))
    const removedAt = Date.now() / 1000
    await new Promise((r) => setTimeout(r, scaled(2500)))
    const lines = received.split('\n').filter((l) => /^\d+\.\d+$/.test(l))
    const last = Number(lines.at(-1))
    t.true(lines.length > 20, `the stream carried ${lines.length} lines before the removal`)
    t.log(`last line through sent ${(last - removedAt).toFixed(3)} s after the policy file was written`)
    t.true(last - removedAt < 1, `the last line sent at +${(last - removedAt).toFixed(3)} s got through`)
    t.true(last - removedAt > -0.5, 'the stream was still flowing when the rule was removed')
    const after2 = await stats(n2)
    // which stage says no depends on how far the revocation got when the next packet arrives: the
    // rule gone (no_rule), the auth entries gone (no_auth), or A's address gone (unknown_source)
    const reasons = ['drop_no_rule', 'drop_no_auth', 'drop_unknown_source']
    const cut = reasons.reduce((n, r) => n + (after2[r] ?? 0) - (before2[r] ?? 0), 0)
    t.true(cut >= 1, `the stream's next packets were dropped at node2 (${reasons.join('/')} moved by ${cut})`)
    stream.child.kill()
    sink.child.kill()
  },
)

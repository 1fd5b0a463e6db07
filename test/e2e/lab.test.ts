/**
 * The lab's life cycle on this machine (root): up with the defaults, reachability inside the
 * topology, per-node mount namespaces, idempotent up, repair of a half-broken lab, and a down that
 * leaves nothing — also after a crash. Cross-node workload traffic (WireGuard) is tested by the
 * transport e2e tests on top of test/e2e/helpers/lab.ts.
 */
import { existsSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { hostMounts } from '../../daemon/lab/mounts.js'
import { listNetns } from '../../daemon/lab/netns.js'
import {
  LAB_NETNS_PATTERN,
  LAB_STATE_DIR,
  LAB_STATE_FILE,
  type LabPlan,
  planNetns,
  UNDERLAY_NETNS,
} from '../../daemon/lab/plan.js'
import { alive } from '../../daemon/lab/procs.js'
import {
  type DownReport,
  findLeftovers,
  labDown,
  labExec,
  labSpawn,
  labUp,
  type UpReport,
} from './helpers/lab.js'

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'daemon', 'cli', 'main.js')

function latchctl(...args: string[]) {
  return execa(process.execPath, [CLI, ...args], { reject: false })
}

/** Asserts what `down` promises: no lab netns, link, process, mount, pin or state dir is left. */
async function assertNothingLeft(t: import('ava').ExecutionContext): Promise<void> {
  const left = await findLeftovers()
  t.deepEqual(await listNetns(LAB_NETNS_PATTERN), [], 'lab network namespaces left')
  t.deepEqual(left.processes, [], 'processes left in lab namespaces')
  t.deepEqual(left.bpfPins, [], 'bpf pins left')
  t.deepEqual(
    (await hostMounts()).filter((m) => m.mountPoint.startsWith(LAB_STATE_DIR)).map((m) => m.mountPoint),
    [],
    'mounts left under /run/latch-lab',
  )
  t.false(existsSync(LAB_STATE_DIR), '/run/latch-lab still exists')
  const links = (await execa('ip', ['-br', 'link'])).stdout
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith('latch'))
  t.deepEqual(links, [], 'host links named latch*')
}

let up: UpReport
let plan: LabPlan

test.before(async () => {
  await labDown()
})

test.after.always(async () => {
  await labDown()
})

test.serial(
  'lab up with the defaults builds 3 nodes × 2 workloads, identities and a latchd per node',
  async (t) => {
    up = await labUp()
    plan = up.plan
    t.true(up.changed)
    t.deepEqual(plan.size, { nodes: 3, workloads: 2 })
    t.deepEqual(await listNetns(LAB_NETNS_PATTERN), [...planNetns(plan)].sort())
    t.is(up.daemons.length, 3)
    for (const d of up.daemons) {
      t.true(await alive(d.pid), `latchd of ${d.node} is not running`)
      t.true(
        existsSync(plan.nodes.find((n) => n.name === d.node)!.controlSocket),
        `${d.node} has no control socket`,
      )
    }
    for (const w of plan.nodes.flatMap((n) => n.workloads)) {
      t.true(existsSync(join(w.svidDir, 'svid.crt')), `no SVID for ${w.spiffeId}`)
    }
    const state = JSON.parse(await readFile(LAB_STATE_FILE, 'utf8'))
    t.deepEqual(state.size, { nodes: 3, workloads: 2 })

    const status = await latchctl('lab', 'status', '--json')
    t.is(status.exitCode, 0, status.stderr)
    const s = JSON.parse(status.stdout)
    t.true(s.up)
    t.deepEqual(
      s.nodes.map((n: { name: string; latchd: { alive: boolean } }) => [n.name, n.latchd.alive]),
      [
        ['node1', true],
        ['node2', true],
        ['node3', true],
      ],
    )
  },
)

test.serial('every workload can ping its own node', async (t) => {
  const results = await Promise.all(
    plan.nodes.flatMap((n) =>
      n.workloads.map(
        async (w) => [w.name, await labExec(w.name, ['ping', '-c1', '-W2', n.underlayIp])] as const,
      ),
    ),
  )
  for (const [name, r] of results) t.is(r.exitCode, 0, `${name}: ${r.stdout}${r.stderr}`)
})

test.serial('node underlay addresses reach each other across the bridge', async (t) => {
  const pairs = plan.nodes.flatMap((a) => plan.nodes.filter((b) => b !== a).map((b) => [a, b] as const))
  const results = await Promise.all(
    pairs.map(
      async ([a, b]) =>
        [`${a.name}→${b.name}`, await labExec(a.name, ['ping', '-c1', '-W2', b.underlayIp])] as const,
    ),
  )
  for (const [pair, r] of results) t.is(r.exitCode, 0, `${pair}: ${r.stdout}${r.stderr}`)
})

test.serial("each node sees its own /var/run/wireguard and not another node's", async (t) => {
  for (const n of ['node1', 'node2']) {
    const w = await labExec(n, ['sh', '-c', `echo ${n} > /var/run/wireguard/latch-marker-${n}`])
    t.is(w.exitCode, 0, w.stderr)
  }
  const ls = await latchctl('lab', 'exec', 'node1', '--', 'ls', '/var/run/wireguard')
  t.is(ls.exitCode, 0, ls.stderr)
  t.true(ls.stdout.split('\n').includes('latch-marker-node1'), ls.stdout)
  t.false(ls.stdout.includes('latch-marker-node2'), ls.stdout)
  // the node's dir is the bind-mounted /run/latch-lab/<node>/wireguard; the host's own dir is untouched
  t.true(existsSync(join(LAB_STATE_DIR, 'node2', 'wireguard', 'latch-marker-node2')))
  t.false(existsSync('/run/wireguard/latch-marker-node1'))
  // workloads of a node share its mount namespace
  const fromWorkload = await labExec('node1-w2', ['cat', '/var/run/wireguard/latch-marker-node1'])
  t.is(fromWorkload.stdout.trim(), 'node1')
})

test.serial('lab exec passes the exit code through', async (t) => {
  const r = await latchctl('lab', 'exec', 'node2-w1', '--', 'sh', '-c', 'exit 7')
  t.is(r.exitCode, 7)
  const netns = await latchctl('lab', 'exec', 'node2-w1', '--', 'ip', '-br', 'addr', 'show', 'dev', 'eth0')
  t.regex(netns.stdout, /10\.100\.2\.11\/32/)
})

test.serial('bad lab commands say what is wrong and change nothing', async (t) => {
  const before = await findLeftovers()
  const cases: Array<[string[], number, string]> = [
    [['lab', 'up', '--nodes', '0'], 64, 'LATCH_ERR_LAB_BAD_SIZE'],
    [['lab', 'up', '--workloads', '500'], 64, 'LATCH_ERR_LAB_BAD_SIZE'],
    [['lab', 'up', '--nodes', '4'], 65, 'LATCH_ERR_LAB_SHAPE_CONFLICT'],
    [['lab', 'up', '--rekey-interval', 'soon'], 64, 'LATCH_ERR_USAGE_BAD_ARGUMENT'],
    [['lab', 'exec', 'node9', '--', 'true'], 64, 'LATCH_ERR_LAB_UNKNOWN_TARGET'],
    [['lab', 'exec', 'node1-w7', '--', 'true'], 64, 'LATCH_ERR_LAB_UNKNOWN_TARGET'],
  ]
  for (const [args, exit, code] of cases) {
    const r = await latchctl(...args)
    t.is(r.exitCode, exit, `${args.join(' ')}: ${r.stderr}`)
    t.true(r.stderr.includes(code), `${args.join(' ')}: ${r.stderr}`)
  }
  const after = await findLeftovers()
  t.deepEqual(after.netns, before.netns)
  t.deepEqual(after.processes.map((p) => p.pid).sort(), before.processes.map((p) => p.pid).sort())
})

test.serial('lab up twice changes nothing and says so', async (t) => {
  const again = await labUp()
  t.false(again.changed, again.actions.join('\n'))
  t.deepEqual(again.actions, [])
  t.deepEqual(
    again.daemons.map((d) => [d.node, d.pid, d.state]),
    up.daemons.map((d) => [d.node, d.pid, 'running']),
  )
  const cli = await latchctl('lab', 'up')
  t.is(cli.exitCode, 0, cli.stderr)
  t.regex(cli.stdout, /no change/)
})

test.serial(
  'lab up completes a half-broken lab: lost netns, link, mount namespace and a killed latchd',
  async (t) => {
    const node2 = plan.nodes[1]!
    const victim = up.daemons.find((d) => d.node === 'node2')!
    process.kill(victim.pid, 'SIGKILL')
    await execa('ip', ['netns', 'del', 'latch-node3-w2'])
    await execa('ip', ['-n', 'latch-node1', 'link', 'del', 'lw1'])
    const node3 = plan.nodes[2]!
    await execa('nsenter', [`--mount=${node3.mountNsFile}`, '--', 'umount', '-l', '/run/wireguard'])
    t.not(
      (await labExec('node3', ['wg', 'show', 'latch0'])).exitCode,
      0,
      'the unmount did not hide the socket',
    )
    const fixed = await labUp()
    t.true(fixed.changed)
    t.true(
      fixed.actions.some((a) => a.includes('latch-node3-w2')),
      fixed.actions.join('\n'),
    )
    const d2 = fixed.daemons.find((d) => d.node === 'node2')!
    t.is(d2.state, 'restarted')
    t.not(d2.pid, victim.pid)
    t.true(existsSync(node2.controlSocket))
    for (const [w, ip] of [
      ['node3-w2', '10.99.0.13'],
      ['node1-w1', '10.99.0.11'],
    ] as const) {
      const r = await labExec(w, ['ping', '-c1', '-W2', ip])
      t.is(r.exitCode, 0, `${w}: ${r.stdout}`)
    }
    t.true(fixed.actions.includes(`/run/wireguard → ${node3.wireguardDir}`), fixed.actions.join('\n'))
    const wg = await labExec('node3', ['wg', 'show', 'latch0'])
    t.is(wg.exitCode, 0, wg.stderr)
    up = fixed
    t.false((await labUp()).changed)
  },
)

test.serial('a changed setting rewrites the configs and restarts the daemons with them', async (t) => {
  const changed = await labUp({ rekeyInterval: '5s' })
  t.is(changed.rekeyInterval, '5s')
  t.true(changed.actions.includes(plan.nodes[0]!.configFile), changed.actions.join('\n'))
  for (const d of changed.daemons) {
    t.is(d.state, 'restarted')
    t.not(d.pid, up.daemons.find((x) => x.node === d.node)!.pid)
  }
  t.regex(await readFile(plan.nodes[2]!.configFile, 'utf8'), /rekeyInterval: 5s/)
  // omitted settings keep the running lab's
  const kept = await labUp()
  t.false(kept.changed, kept.actions.join('\n'))
  t.is(kept.rekeyInterval, '5s')
  up = changed
})

test.serial('lab down removes everything it made', async (t) => {
  const server = await labSpawn('node1-w1', ['socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'EXEC:cat'])
  const report: DownReport = await labDown()
  t.true(report.changed)
  t.true(report.killed.length >= 4, JSON.stringify(report.killed)) // 3 latchd + socat (+ wireguard-go)
  t.true(report.netns.includes(UNDERLAY_NETNS))
  await server.child
  await assertNothingLeft(t)
  t.false((await labDown()).changed, 'a second down finds nothing to do')
})

test.serial(
  'lab down cleans after a crash: killed daemon, lost state file, strays in namespaces',
  async (t) => {
    const lab = await labUp({ nodes: 2, workloads: 1 })
    t.deepEqual(lab.plan.size, { nodes: 2, workloads: 1 })
    process.kill(lab.daemons[0]!.pid, 'SIGKILL')
    // processes a test left running, one of them detached from us entirely
    const stray = await labSpawn('node2', ['sleep', '600'])
    await labExec('node1-w1', ['sh', '-c', 'setsid sleep 600 </dev/null >/dev/null 2>&1 &'])
    // the crash also lost the state file and left a half-made mount namespace pin
    await rm(LAB_STATE_FILE)
    await writeFile(join(LAB_STATE_DIR, 'node1', 'stale'), 'x')
    const report = await labDown()
    t.true(report.killed.length >= 3, JSON.stringify(report.killed))
    await stray.child
    await assertNothingLeft(t)
  },
)

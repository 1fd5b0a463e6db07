/**
 * Workloads that come and go (issue 13), in the lab with enforcement: a workload added on node2 by
 * the real CNI chain (ptp + host-local + latch-cni, `lab workload add`) is ready — its allowed pair
 * with node1-w1 authenticated on both nodes — when ADD returns, so its first SYN needs no
 * retransmission and its first UDP datagram arrives, with no drop counted on either node; a denied
 * destination gets nothing and node1 counts the drop; a latchd restart keeps it registered with
 * traffic flowing; DEL revokes its pairs on node2 before it returns and on node1 when the inventory
 * update arrives (the time is logged, not asserted); bad registrations are refused and change
 * nothing; with latchd down ADD fails with CNI code 11.
 */
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { scaled } from '../../daemon/base/time-scale.js'
import { CniPluginError } from '../../daemon/lab/cni-runtime.js'
import { labCniAdd, labCniCheck, labCniRemove } from '../../daemon/lab/cni-workloads.js'
import { labExec, labSpawn, labUp, useLab } from './helpers/lab.js'
import { entriesOf, latchctl, moved } from './helpers/latchctl.js'
import { until } from './helpers/poll.js'
import { retransmits, tcpConnect, udpSeqs } from './helpers/probes.js'

const lab = useLab(test, { nodes: 2, workloads: 2, enforce: true })
const { ctl, ctlJson, drops, authList, allow } = latchctl(lab)
const C1 = 'spiffe://lab.latch/ns/lab/sa/node2-c1'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let setup: Promise<void> | undefined
function ready(): Promise<void> {
  setup ??= (async () => {
    // the policy gains node2-c1 → node1-w1 (any protocol); node2-c1 → node1-w2 stays denied
    await allow([{ from: C1, to: lab().workload('node1-w1').spiffeId }])
    for (const w of ['node1-w1', 'node1-w2'])
      await labSpawn(w, ['socat', 'TCP-LISTEN:5001,fork,reuseaddr', 'EXEC:/bin/cat'])
  })()
  return setup
}
test.beforeEach(() => ready())

test.serial(
  'a workload added through CNI connects on its first SYN, its first datagram arrives, a denied one is dropped',
  async (t) => {
    const w1 = lab().workload('node1-w1')
    const w2 = lab().workload('node1-w2')
    const started = Date.now()
    const w = await labCniAdd('node2', 'c1')
    t.log(
      `ADD through ptp + host-local + latch-cni took ${Date.now() - started} ms; ${w.spiffeId} at ${w.ip}`,
    )
    t.is(w.spiffeId, C1)
    // ready means: authenticated, and both nodes already hold the entries both ways
    for (const n of ['node1', 'node2']) {
      const e = entriesOf(await authList(n), C1)
      t.true(
        e.some((x) => x.src === C1 && x.dst === w1.spiffeId),
        `${n} ${JSON.stringify(e)}`,
      )
      t.true(
        e.some((x) => x.dst === C1 && x.src === w1.spiffeId),
        `${n} ${JSON.stringify(e)}`,
      )
    }
    const dropsBefore = { node1: await drops('node1'), node2: await drops('node2') }
    const before = await retransmits('node2-c1')
    const c = await tcpConnect('node2-c1', w1.ip, 5001)
    const after = await retransmits('node2-c1')
    t.true(c.ok, JSON.stringify(c))
    t.is(after.syn - before.syn, 0, 'SYN retransmissions')
    t.log(`first connect ${c.ok ? c.connectMs.toFixed(1) : '-'} ms`)
    t.true((await udpSeqs('node2-c1', 'node1-w1', w1.ip, 5002, 3)).includes(0), 'the first datagram arrived')
    for (const n of ['node1', 'node2'] as const) {
      t.deepEqual(
        moved(dropsBefore[n], await drops(n)),
        {},
        `drops counted on ${n} by the first SYN and datagram`,
      )
    }
    const deniedBefore = { node1: await drops('node1'), node2: await drops('node2') }
    const denied = await tcpConnect('node2-c1', w2.ip, 5001, 1)
    t.false(denied.ok, `node2-c1 → node1-w2 must be denied: ${JSON.stringify(denied)}`)
    const deniedMoved = {
      node1: moved(deniedBefore.node1, await drops('node1')),
      node2: moved(deniedBefore.node2, await drops('node2')),
    }
    t.log(`denied connect: drops moved ${JSON.stringify(deniedMoved)}`)
    const total = [deniedMoved.node1, deniedMoved.node2]
      .flatMap((m) => Object.values(m))
      .reduce((a, b) => a + b, 0)
    t.true(total >= 1, 'a drop was counted for the denied SYN (at the source end or the destination end)')
    await labCniCheck('node2', 'c1')

    const list = await ctlJson<
      Array<{ id: string; source: string; attached?: boolean; ready: boolean; owner?: string }>
    >('node2', ['workload', 'list'])
    const mine = list.find((x) => x.id === C1)
    t.like(mine, { source: 'registered', attached: true, ready: true, owner: 'cni:lab-node2-c1:eth0' })
    const file = join(lab().node('node2').dir, 'workloads.json')
    t.is((await stat(file)).mode & 0o777, 0o600)
    t.true((await readFile(file, 'utf8')).includes(C1))
  },
)

test.serial('a latchd restart keeps the registered workload, with traffic flowing through it', async (t) => {
  const w1 = lab().workload('node1-w1')
  const stream = await labSpawn('node2-c1', ['ping', '-c', '100', '-i', '0.05', '-W1', w1.ip])
  await sleep(scaled(1000))
  const { pids } = JSON.parse(await readFile('/run/latch-lab/lab.json', 'utf8')) as {
    pids: Record<string, number>
  }
  process.kill(pids.node2 as number, 'SIGTERM')
  await sleep(500)
  await labUp({ enforce: true })
  const r = await stream.child
  t.regex(String(r.stdout), / 0% packet loss/, String(r.stdout))
  const list = await ctlJson<Array<{ id: string; attached?: boolean }>>('node2', ['workload', 'list'])
  t.like(
    list.find((x) => x.id === C1),
    { attached: true },
  )
  await until(
    'the pair re-authenticated',
    async () => {
      const l = await ctlJson<Array<{ id: string; ready: boolean }>>('node2', ['workload', 'list'])
      return l.find((x) => x.id === C1)?.ready === true
    },
    15_000,
    100,
  )
  const before = await retransmits('node2-c1')
  const c = await tcpConnect('node2-c1', w1.ip, 5001)
  t.true(c.ok, JSON.stringify(c))
  t.is((await retransmits('node2-c1')).syn - before.syn, 0)
})

test.serial('bad registrations are refused with a clear error and change nothing', async (t) => {
  // the registrations, not their pairs' state (which may still be settling after the restart above)
  type Listed = { id: string; source: string; ips: string[]; interface?: string; owner?: string }
  const registrations = async () =>
    (await ctlJson<Listed[]>('node2', ['workload', 'list'])).map(
      ({ id, source, ips, interface: i, owner }) => ({
        id,
        source,
        ips,
        interface: i,
        owner,
      }),
    )
  const before = await registrations()
  const cases: Array<[string, string[], string]> = [
    [
      'an IP outside the node CIDRs',
      [C1.replace('c1', 'x'), '--ip', '10.100.1.77', '--interface', 'lw1'],
      'workloadCidrs',
    ],
    [
      'another trust domain',
      ['spiffe://other.td/ns/a/sa/b', '--ip', '10.100.2.77', '--interface', 'lo'],
      'trust domain',
    ],
    [
      'an interface that does not exist',
      [C1.replace('c1', 'y'), '--ip', '10.100.2.78', '--interface', 'nope0'],
      'no interface',
    ],
    [
      'an IP of another workload',
      [C1.replace('c1', 'z'), '--ip', '10.100.2.11', '--interface', 'lo'],
      'already belongs',
    ],
    [
      'a config workload',
      [lab().workload('node2-w1').spiffeId, '--ip', '10.100.2.11', '--interface', 'lw1'],
      'latchd.yaml',
    ],
    ['not a SPIFFE ID', ['http://x', '--ip', '10.100.2.79', '--interface', 'lo'], 'SPIFFE'],
  ]
  for (const [what, args, says] of cases) {
    const r = await ctl('node2', ['workload', 'add', ...args, '--wait', '0s'])
    t.not(r.exitCode, 0, what)
    t.regex(r.stderr, /LATCH_ERR_WORKLOAD_/, what)
    t.true(r.stderr.includes(says), `${what}: ${r.stderr}`)
  }
  t.deepEqual(await registrations(), before)
})

test.serial('DEL revokes its pairs on both nodes, deletes its key, and is idempotent', async (t) => {
  const started = Date.now()
  t.true(await labCniRemove('node2', 'c1'))
  const returned = Date.now()
  t.deepEqual(entriesOf(await authList('node2'), C1), [], 'node2 holds no entry of it when DEL returns')
  await until(
    'node1 holds no entry of it',
    async () => entriesOf(await authList('node1'), C1).length === 0,
    10_000,
    25,
  )
  // how long node1 took, from the daemons' own log lines (pino `time`, ISO 8601, ms): node2's
  // workload_removed → node1's pair_revoked of the workload
  const lineOf = async (node: string, event: string) =>
    (await readFile(lab().node(node).logFile, 'utf8'))
      .split('\n')
      .flatMap((l) => {
        try {
          return [
            JSON.parse(l) as {
              time: string
              event?: string
              local?: string
              remote?: string
              workload?: string
            },
          ]
        } catch {
          return []
        }
      })
      .filter(
        (l) =>
          l.event === event && Date.parse(l.time) >= started && [l.local, l.remote, l.workload].includes(C1),
      )
      .at(0)
  const removedAt = Date.parse(String((await lineOf('node2', 'workload_removed'))?.time))
  const revokedAt = Date.parse(String((await lineOf('node1', 'pair_revoked'))?.time))
  t.false(Number.isNaN(removedAt), 'node2 logged workload_removed')
  t.false(Number.isNaN(revokedAt), 'node1 logged pair_revoked')
  t.log(
    `DEL through the chain took ${returned - started} ms; node1 revoked the pair ${revokedAt - removedAt} ms after node2 removed the workload (log times)`,
  )
  const list = await ctlJson<Array<{ id: string }>>('node2', ['workload', 'list'])
  t.false(list.some((x) => x.id === C1))
  t.false((await readFile(join(lab().node('node2').dir, 'workloads.json'), 'utf8')).includes(C1))
  const keys = await labExec('node2', [
    'sh',
    '-c',
    `grep -rl "${C1}" ${join(lab().node('node2').dir, 'workloads')} || true`,
  ])
  t.is(keys.stdout.trim(), '', 'no SVID of the workload is left')
  t.false(await labCniRemove('node2', 'c1'), 'a second DEL is fine')
})

test.serial('with latchd down, ADD fails with CNI code 11 and leaves nothing behind', async (t) => {
  const { pids } = JSON.parse(await readFile('/run/latch-lab/lab.json', 'utf8')) as {
    pids: Record<string, number>
  }
  process.kill(pids.node2 as number, 'SIGTERM')
  await sleep(500)
  try {
    const err = await t.throwsAsync(labCniAdd('node2', 'c2'), { instanceOf: CniPluginError })
    t.is((err as CniPluginError).error.code, 11)
    t.regex((err as CniPluginError).error.msg, /latchd is not reachable/)
    t.false(existsSync('/run/netns/latch-node2-c2'), 'the sandbox was removed')
  } finally {
    await labUp({ enforce: true })
  }
})

/**
 * Workloads that come and go (issue 13), in the lab with enforcement: a workload added on node2 by
 * the real CNI chain (ptp + host-local + latch-cni, `lab workload add`) is ready — its allowed pair
 * with node1-w1 authenticated on both nodes — when ADD returns, so its first SYN needs no
 * retransmission and its first UDP datagram arrives; a denied destination gets nothing; a latchd
 * restart keeps it registered with traffic flowing; DEL revokes its pairs on both nodes within 1 s;
 * bad registrations are refused and change nothing; with latchd down ADD fails with CNI code 11.
 */
import { existsSync } from 'node:fs'
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { parse, stringify } from 'yaml'
import { CniPluginError } from '../../daemon/lab/cni-runtime.js'
import { labCniAdd, labCniCheck, labCniRemove } from '../../daemon/lab/cni-workloads.js'
import { LAB_POLICY_FILE } from '../../daemon/lab/policy.js'
import { labExec, labSpawn, labUp, useLab } from './helpers/lab.js'
import { retransmits, tcpConnect, udpSeqs } from './helpers/probes.js'

const CLI = join(process.cwd(), 'dist', 'daemon', 'cli', 'main.js')
const lab = useLab(test, { nodes: 2, workloads: 2, enforce: true })
const C1 = 'spiffe://lab.latch/ns/lab/sa/node2-c1'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function ctl(node: string, args: string[]) {
  return labExec(node, [process.execPath, CLI, ...args, '--socket', lab().node(node).controlSocket])
}

async function ctlJson<T>(node: string, args: string[]): Promise<T> {
  const r = await ctl(node, [...args, '--json'])
  if (r.exitCode !== 0) throw new Error(`${node} ${args.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

type Entry = { src: string; dst: string }
const authList = (node: string) => ctlJson<Entry[]>(node, ['debug', 'auth', 'list'])
const names = (list: Entry[], id: string) => list.filter((e) => e.src === id || e.dst === id)

async function until(what: string, f: () => Promise<boolean>, ms = 15_000, every = 100): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await f()) return
    await sleep(every)
  }
  throw new Error(`timed out waiting for ${what}`)
}

let setup: Promise<void> | undefined
function ready(): Promise<void> {
  setup ??= (async () => {
    // the policy gains node2-c1 → node1-w1 (any protocol); node2-c1 → node1-w2 stays denied
    const policy = parse(await readFile(LAB_POLICY_FILE, 'utf8')) as {
      allow: Array<{ from: string; to: string }>
    }
    policy.allow.push({ from: C1, to: lab().workload('node1-w1').spiffeId })
    const digest = async (n: string) =>
      (await ctlJson<{ pairAuth?: { policy: { digest: string } } }>(n, ['status'])).pairAuth?.policy.digest
    const old = await digest('node1')
    await writeFile(`${LAB_POLICY_FILE}.tmp-cni`, stringify(policy))
    await rename(`${LAB_POLICY_FILE}.tmp-cni`, LAB_POLICY_FILE)
    await until('both nodes run the new policy', async () => {
      const [a, b] = [await digest('node1'), await digest('node2')]
      return a !== old && a === b
    })
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
      const e = names(await authList(n), C1)
      t.true(
        e.some((x) => x.src === C1 && x.dst === w1.spiffeId),
        `${n} ${JSON.stringify(e)}`,
      )
      t.true(
        e.some((x) => x.dst === C1 && x.src === w1.spiffeId),
        `${n} ${JSON.stringify(e)}`,
      )
    }
    const before = await retransmits('node2-c1')
    const c = await tcpConnect('node2-c1', w1.ip, 5001)
    const after = await retransmits('node2-c1')
    t.true(c.ok, JSON.stringify(c))
    t.is(after.syn - before.syn, 0, 'SYN retransmissions')
    t.true(c.ok && c.connectMs < 500, JSON.stringify(c))
    t.true((await udpSeqs('node2-c1', 'node1-w1', w1.ip, 5002, 3)).includes(0), 'the first datagram arrived')
    const denied = await tcpConnect('node2-c1', w2.ip, 5001, 1)
    t.false(denied.ok, `node2-c1 → node1-w2 must be denied: ${JSON.stringify(denied)}`)
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
  await sleep(1000)
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
  await until('the pair re-authenticated', async () => {
    const l = await ctlJson<Array<{ id: string; ready: boolean }>>('node2', ['workload', 'list'])
    return l.find((x) => x.id === C1)?.ready === true
  })
  const before = await retransmits('node2-c1')
  const c = await tcpConnect('node2-c1', w1.ip, 5001)
  t.true(c.ok, JSON.stringify(c))
  t.is((await retransmits('node2-c1')).syn - before.syn, 0)
})

test.serial('bad registrations are refused with a clear error and change nothing', async (t) => {
  const before = await ctlJson<unknown[]>('node2', ['workload', 'list'])
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
  t.deepEqual(await ctlJson<unknown[]>('node2', ['workload', 'list']), before)
})

test.serial(
  'DEL revokes its pairs on both nodes within 1 s, deletes its key, and is idempotent',
  async (t) => {
    const started = Date.now()
    t.true(await labCniRemove('node2', 'c1'))
    await until(
      'no auth entry names the workload on either node',
      async () => {
        return (
          names(await authList('node1'), C1).length === 0 && names(await authList('node2'), C1).length === 0
        )
      },
      1000,
      50,
    )
    t.log(`revoked on both nodes ${Date.now() - started} ms after DEL started`)
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
  },
)

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

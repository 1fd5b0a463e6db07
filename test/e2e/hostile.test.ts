/**
 * latchd on a hostile underlay (issue 11), in the lab. The attacker is the underlay namespace with
 * addresses of its own on the bridge (as test/e2e/datapath.test.ts does) and no credentials.
 *
 *  - 5000 idle connections, 500 slowloris handshakes and a paced flood of as many connections as
 *    latchd's open-file limit against node2's 7443 and 7444: latchd lives, its control socket
 *    answers during the flood, a legitimate re-handshake (node1 killed with SIGKILL and restarted)
 *    completes during the attack (its time against the unloaded one is logged, not asserted), open
 *    files are back to the baseline within the handshake deadline and memory, once latchd reclaimed
 *    it after the pressure, within 20 % of the baseline.
 *  - The pair-auth port refuses a connection from the underlay at TCP level (a reset: SO_BINDTODEVICE).
 *  - Programming WireGuard failing mid-run — wireguard-go's UAPI socket hidden in node2's mount
 *    namespace, or node2 out of file descriptors (its open-file limit lowered with prlimit: EMFILE)
 *    — leaves latchd alive; once the cause is gone it reconciles by itself and traffic flows.
 *    (A `wg` process that cannot start is the kernel backend's case: test/transport/runner.test.ts
 *    and test/engine/engine-errors.test.ts.)
 *
 * node1 dials (the lower name), so node2's listeners are the ones attacked and a restart of node1
 * re-handshakes into them.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { execa } from 'execa'
import { labExec, useLab } from './helpers/lab.js'
import { type LogLine, labPids, openFiles, logLines as readLog, sleep, until } from './helpers/poll.js'
import { type Rehandshake, rehandshake as timedRehandshake } from './helpers/rehandshake.js'

const CLI = join(process.cwd(), 'dist', 'daemon', 'cli', 'main.js')
const FLOOD = join(process.cwd(), 'test', 'e2e', 'helpers', 'flood.ts')
const SOURCES = Array.from({ length: 8 }, (_, i) => `10.99.0.${240 + i}`)
/** limits.handshakeTimeout's default. */
const HANDSHAKE_DEADLINE_MS = 10_000
const lab = useLab(test, { nodes: 2, workloads: 1, enforce: true })

const underlay = (argv: string[]) =>
  execa('ip', ['netns', 'exec', 'latch-underlay', ...argv], { reject: false })

async function rssKb(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1])
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const logLines = (node: string) => readLog(lab().node(node).logFile)
const pids = labPids

/** SIGKILL node1's latchd, let the lab start it again, and time its first session with node2. */
function rehandshake(outage?: Outage): Promise<Rehandshake> {
  return timedRehandshake({
    dialer: 'node1',
    peer: 'node2',
    logFile: lab().node('node1').logFile,
    up: { enforce: true },
    ...(outage && {
      // node2 has seen node1's connection close (one descriptor fewer) before the outage begins
      between: async () => {
        await sleep(1000)
        await outage.begin((await pids()).node2!)
      },
    }),
  })
}

async function fdNumbers(pid: number): Promise<number[]> {
  return (await readdir(`/proc/${pid}/fd`)).map(Number)
}

/** The open-file limit under which exactly one descriptor number is free, given the numbers in use. */
function limitLeavingOneFree(used: number[]): number {
  const inUse = new Set(used)
  let free = 0
  for (let n = 0; ; n++) {
    if (inUse.has(n)) continue
    if (++free === 2) return n
  }
}

async function statusOk(node: string): Promise<boolean> {
  const r = await labExec(
    node,
    [process.execPath, CLI, 'status', '--json', '--socket', lab().node(node).controlSocket],
    {
      timeoutMs: 10_000,
    },
  )
  return r.exitCode === 0
}

async function workloadPing(): Promise<boolean> {
  const r = await labExec('node1-w1', ['ping', '-c1', '-W1', lab().workload('node2-w1').ip], {
    timeoutMs: 5000,
  })
  return r.exitCode === 0
}

/** The attacker's addresses on the bridge, and node2's tunnel address routed over the underlay (outside WireGuard). */
async function attacker(): Promise<void> {
  for (const ip of SOURCES) await underlay(['ip', 'addr', 'replace', `${ip}/24`, 'dev', 'latchbr0'])
  await underlay(['ip', 'route', 'replace', '10.101.0.2/32', 'via', lab().node('node2').underlayIp])
}

test.after.always(async () => {
  await underlay(['ip', 'route', 'del', '10.101.0.2/32']).catch(() => undefined)
  for (const ip of SOURCES)
    await underlay(['ip', 'addr', 'del', `${ip}/24`, 'dev', 'latchbr0']).catch(() => undefined)
})

test.serial('the pair-auth port refuses a connection from the underlay at TCP level', async (t) => {
  await attacker()
  await until('pairs authenticated', workloadPing, 30_000)
  // reachable by routing, but not through WireGuard: the kernel resets the SYN (no TLS, no certificate)
  const r = await underlay(['socat', '-T2', '-', `TCP:10.101.0.2:7444,connect-timeout=3,bind=${SOURCES[0]}`])
  t.not(r.exitCode, 0)
  t.regex(r.stderr, /Connection refused/, r.stderr)
  // while the same port answers through the tunnel: pair authentication keeps working
  t.true(await workloadPing())
})

/** One JSON line of the attacker's output, when it has printed it. */
function attackerLine(out: string[], phase: string): Record<string, unknown> | undefined {
  for (const l of out) {
    if (!l.startsWith('{')) continue
    const v = JSON.parse(l) as Record<string, unknown>
    if (v.phase === phase) return v
  }
  return undefined
}

test.serial(
  'idle, slowloris and a paced flood up to the open-file limit: latchd lives, sheds, serves its peers and recovers',
  async (t) => {
    t.timeout(300_000)
    await attacker()
    await until('pairs authenticated', workloadPing, 30_000)
    const pid = (await pids()).node2!
    const limit = Number(/^Max open files\s+(\d+)/m.exec(await readFile(`/proc/${pid}/limits`, 'utf8'))?.[1])
    const unloaded = await rehandshake()
    await until('pairs authenticated again', workloadPing, 30_000)
    await new Promise((r) => setTimeout(r, 2000))
    const baseFds = await openFiles(pid)
    const baseRss = await rssKb(pid)

    const node2 = lab().node('node2').underlayIp
    const plan = {
      targets: [
        { host: node2, port: 7443 },
        { host: '10.101.0.2', port: 7444 },
      ],
      sources: SOURCES,
      idle: 5000,
      slowloris: 500,
      flood: limit,
      rate: 2000,
      // longer than the handshake deadline: the attacker holds on, latchd must let go
      holdMs: HANDSHAKE_DEADLINE_MS + 5000,
    }
    const flood = execa(
      'ip',
      ['netns', 'exec', 'latch-underlay', process.execPath, '--import', 'tsx', FLOOD, JSON.stringify(plan)],
      { reject: false, buffer: { stdout: true } },
    )
    const out: string[] = []
    flood.stdout?.on('data', (c: Buffer) => out.push(...c.toString().split('\n')))
    let peakFds = 0
    const sampler = setInterval(() => {
      openFiles(pid).then(
        (n) => {
          peakFds = Math.max(peakFds, n)
        },
        () => undefined,
      )
    }, 200)
    try {
      await new Promise((r) => setTimeout(r, 2500))
      // during the attack: the control socket answers and a legitimate peer re-handshakes
      t.true(await statusOk('node2'), 'the control socket answers during the flood')
      const loaded = await rehandshake()
      const attackDone = attackerLine(out, 'attack_done') !== undefined
      await until('the attack to end', async () => attackerLine(out, 'attack_done') !== undefined, 120_000)
      t.true(alive(pid), 'latchd on node2 survived')
      // the attacker still holds every socket: what closes them is latchd's deadline
      const attackEnded = Date.now()
      await until(
        'open files back to baseline',
        async () => (await openFiles(pid)) <= baseFds + 4,
        HANDSHAKE_DEADLINE_MS + 5000,
        100,
      )
      const backMs = Date.now() - attackEnded
      const result = await flood
      t.is(result.exitCode, 0, result.stderr)
      const report = attackerLine(out, 'report') as {
        attackMs: number
        maxOpen: number
        leftOpen: number
        tallies: Array<{ attempts: number; connected: number; refused: number; closedByPeer: number }>
      }
      // the end of the pressure (no shed for limits' calm period) makes latchd reclaim memory
      await until(
        'latchd to reclaim memory after the pressure',
        async () => (await logLines('node2')).some((l) => l.event === 'memory_reclaimed'),
        60_000,
      )
      const afterRss = await rssKb(pid)
      const summary = {
        fdLimit: limit,
        attackMs: report.attackMs,
        attackerMaxOpen: report.maxOpen,
        attackerLeftOpen: report.leftOpen,
        tallies: report.tallies,
        baseFds,
        peakFds,
        fdsBackAfterMs: backMs,
        baseRssMb: Math.round(baseRss / 1024),
        afterRssMb: Math.round(afterRss / 1024),
        unloaded,
        loaded,
        rehandshakeDuringAttack: !attackDone,
      }
      t.log(JSON.stringify(summary))
      const [node, pair] = report.tallies
      t.true(node!.attempts >= (5500 + limit) / 2 - 1, 'the attacker made its attempts on 7443')
      t.true(node!.closedByPeer > 0, 'latchd shed connections on 7443')
      t.is(pair!.connected, 0, 'no connection to 7444 from the underlay')
      t.true(pair!.refused > 0)
      t.is(report.leftOpen, 0, 'latchd closed every connection the attacker held')
      t.true(peakFds < limit - 400, `open files peaked at ${peakFds} of ${limit}`)
      t.true(
        // the deadline plus slack for timers on a loaded 2-core machine (seen: 11.6 s once in CI)
        backMs <= HANDSHAKE_DEADLINE_MS + 3000,
        `open files back to baseline ${backMs} ms after the attack`,
      )
      // the legitimate peer got its session during the attack (rehandshake() waited for it). How
      // long it took against the unloaded run is a figure, logged above, not an assertion: on a
      // shared CI machine the attacker's own CPU use moves it (test style: no timed assertions)
      t.true(loaded.handshakeMs > 0 && unloaded.handshakeMs > 0)
      t.true(afterRss <= baseRss * 1.2, `RSS ${afterRss} kB after vs ${baseRss} kB before`)
      t.true(await statusOk('node2'))
      await until('traffic after the flood', workloadPing, 30_000)
      const shed = (await logLines('node2')).filter((l) => l.event === 'connection_shed')
      t.true(shed.length > 0 && shed.length < 200, `shedding logged ${shed.length} times (once per interval)`)
    } finally {
      clearInterval(sampler)
      flood.kill('SIGKILL')
    }
  },
)

interface Outage {
  /** Breaks what node2 needs to program WireGuard; runs after node1 was killed, before it is started again. */
  begin(pid: number): Promise<void>
  end(pid: number): Promise<void>
  /** What the failed reconcile's log line names (its `err`). */
  reason: RegExp
  /** false: the outage leaves no way to answer the control socket either (checked once it ends). */
  answersDuring?: boolean
}

/**
 * node1 re-handshakes while `outage` is on, so node2 must set a new PSK on wireguard-go and cannot: a
 * reconcile fails naming `reason`, latchd lives and answers; once the outage ends the coalescer's
 * retry (backoff 1 s … 30 s) goes through by itself and traffic flows (the ping alone proves
 * nothing: WireGuard's current session keys outlive a PSK change).
 */
async function wgOutage(t: ExecutionContext, outage: Outage): Promise<void> {
  await until('pairs authenticated', workloadPing, 30_000)
  const pid = (await pids()).node2!
  const before = (await logLines('node2')).length
  const failure = (l: LogLine) => /reconcile failed/.test(l.msg ?? '') && outage.reason.test(l.err ?? '')
  try {
    await rehandshake(outage)
    await until(
      'a failed reconcile on node2',
      async () => (await logLines('node2')).slice(before).some(failure),
      20_000,
    )
    await new Promise((r) => setTimeout(r, 3000))
    t.true(alive(pid), 'latchd survived the failed reconciles')
    if (outage.answersDuring !== false) t.true(await statusOk('node2'), 'the control socket answers')
  } finally {
    await outage.end(pid)
  }
  t.true(await statusOk('node2'), 'the control socket answers after the outage')
  await until(
    'a reconcile after the outage',
    async () => {
      const l = (await logLines('node2')).slice(before)
      const failed = l.findIndex(failure)
      return failed >= 0 && l.slice(failed).some((x) => x.msg === 'reconciled WireGuard')
    },
    45_000,
  )
  await until('traffic after the outage', workloadPing, 45_000)
  const lines = (await logLines('node2')).slice(before)
  t.log(
    lines
      .filter((l) => /reconcile|WireGuard|handshake/.test(`${l.msg} ${l.event}`))
      .map((l) => `${l.time} ${l.event ?? ''} ${l.msg} ${l.err ?? ''}`)
      .join('\n'),
  )
  t.true(
    lines.slice(lines.findIndex(failure)).some((l) => l.msg === 'reconciled WireGuard'),
    'a later reconcile went through',
  )
  t.is((await pids()).node2, pid)
  t.true(alive(pid))
}

test.serial(
  "wireguard-go's UAPI socket gone leaves latchd alive; it reconciles once the socket is back",
  async (t) => {
    t.timeout(120_000)
    // latchd drives wireguard-go over /var/run/wireguard/<if>.sock (wireguard.userspaceControl: uapi);
    // a tmpfs over the directory hides the socket (in node2's own mount namespace: nothing else sees it)
    await wgOutage(t, {
      async begin() {
        const hide = await labExec('node2', ['mount', '-t', 'tmpfs', 'latch-e2e-hide', '/var/run/wireguard'])
        if (hide.exitCode !== 0) throw new Error(hide.stderr)
      },
      async end() {
        await labExec('node2', ['umount', '/var/run/wireguard'])
      },
      reason: /ENOENT/,
    })
  },
)

test.serial(
  'out of file descriptors (EMFILE) mid-run: latchd lives and reconciles once they are back',
  async (t) => {
    t.timeout(120_000)
    const pid = (await pids()).node2!
    const soft = /^Max open files\s+(\d+)\s+(\d+)/m.exec(await readFile(`/proc/${pid}/limits`, 'utf8'))
    t.truthy(soft)
    const [, softLimit, hardLimit] = soft!
    await wgOutage(t, {
      // one descriptor to spare: node1's new control connection takes it, so the UAPI connect of
      // the reconcile that follows fails with EMFILE, and so does every control-socket connection
      // until the limit is back. A new descriptor gets the lowest free number below the limit,
      // and the numbers in use have holes: the limit is set just under the second free number
      async begin(p) {
        await sleep(1000)
        const used = await fdNumbers(p)
        const limit = limitLeavingOneFree(used)
        await execa('prlimit', [`--pid=${p}`, `--nofile=${limit}:${hardLimit}`])
        t.log(`node2's open-file limit lowered to ${limit} (${used.length} open, one number free below it)`)
      },
      async end(p) {
        await execa('prlimit', [`--pid=${p}`, `--nofile=${softLimit}:${hardLimit}`])
      },
      reason: /EMFILE/,
      answersDuring: false,
    })
  },
)

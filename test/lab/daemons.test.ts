import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { daemonNodeArgs, findDaemon, nsenterArgs, waitReady } from '../../daemon/lab/daemons.js'
import { labPlan } from '../../daemon/lab/plan.js'

const node1 = labPlan({ nodes: 1, workloads: 1 }).nodes[0]!

/** A node whose socket and log live in a temp dir, so real processes can play the daemon's part. */
async function tempNode() {
  const dir = await mkdtemp(join(tmpdir(), 'latch-lab-daemons-'))
  return {
    dir,
    node: { ...node1, controlSocket: join(dir, 'latchd.sock'), logFile: join(dir, 'latchd.log') },
  }
}

function start(script: string, dir: string): number {
  const child = spawn('sh', ['-c', script], { cwd: dir, stdio: 'ignore' })
  return child.pid!
}

test('a daemon that exits before opening its socket is reported with the tail of its log', async (t) => {
  const { dir, node } = await tempNode()
  await writeFile(node.logFile, 'line 1\n')
  const pid = start(`echo "fatal: boom" >> ${node.logFile}; exit 3`, dir)
  const err = await t.throwsAsync(waitReady(node, pid, 5000))
  t.true(isLatchError(err, 'LATCH_ERR_LAB_DAEMON_DIED'))
  t.regex(err!.message, /fatal: boom/)
  t.regex(err!.message, /line 1/)
  await rm(dir, { recursive: true })
})

test('a daemon that never opens its socket times out with a clear error', async (t) => {
  const { dir, node } = await tempNode()
  const pid = start('exec sleep 30', dir)
  const err = await t.throwsAsync(waitReady(node, pid, 300))
  t.true(isLatchError(err, 'LATCH_ERR_LAB_DAEMON_TIMEOUT'))
  process.kill(pid, 'SIGKILL')
  await rm(dir, { recursive: true })
})

/** A control socket that answers `status` with `ready` as `isReady()` says at that moment. */
async function statusSocket(path: string, isReady: () => boolean): Promise<Server> {
  const server = createServer((c) => {
    c.once('data', () => c.end(`${JSON.stringify({ ok: true, status: { ready: isReady() } })}\n`))
  })
  await new Promise<void>((resolve) => server.listen(path, resolve))
  return server
}

test('a daemon is ready once its control socket answers status with ready: true', async (t) => {
  const { dir, node } = await tempNode()
  const pid = start('exec sleep 30', dir)
  let ready = false
  const server = await statusSocket(node.controlSocket, () => ready)
  try {
    // the socket answers, but start-up has not finished: not ready
    const err = await t.throwsAsync(waitReady(node, pid, 500))
    t.true(isLatchError(err, 'LATCH_ERR_LAB_DAEMON_TIMEOUT'))
    t.regex(err!.message, /did not finish starting/)
    setTimeout(() => {
      ready = true
    }, 200)
    await t.notThrowsAsync(waitReady(node, pid, 5000))
  } finally {
    server.close()
    process.kill(pid, 'SIGKILL')
    await rm(dir, { recursive: true })
  }
})

test("a node's latchd is recognised by its --config, and commands enter both namespaces", (t) => {
  const procs = [
    { pid: 10, namespace: '/run/netns/latch-node1', cmdline: ['sleep', '600'] },
    {
      pid: 11,
      namespace: '/run/netns/latch-node1',
      cmdline: ['node', '/x/dist/daemon/latchd.js', '--config', '/other'],
    },
    {
      pid: 12,
      namespace: '/run/netns/latch-node1',
      cmdline: ['/usr/bin/node', '/r/dist/daemon/latchd.js', '--config', node1.configFile],
    },
  ]
  t.is(findDaemon(node1, procs)?.pid, 12)
  t.is(findDaemon(node1, procs.slice(0, 2)), undefined)
  t.deepEqual(nsenterArgs('latch-node1-w1', node1, ['wg', 'show']), [
    '--net=/run/netns/latch-node1-w1',
    '--mount=/run/latch-lab/node1/mnt',
    '--',
    'wg',
    'show',
  ])
})

test('the Node.js arguments of a running latchd are the words between the node binary and latchd.js', (t) => {
  const p = (cmdline: string[]) => ({ pid: 1, namespace: '/run/netns/latch-node2', cmdline })
  const config = ['--config', '/run/latch-lab/node2/latchd.yaml']
  t.deepEqual(daemonNodeArgs(p(['/usr/bin/node', '/r/dist/daemon/latchd.js', ...config])), [])
  t.deepEqual(
    daemonNodeArgs(
      p(['/usr/bin/node', '--cpu-prof', '--cpu-prof-dir=/tmp/p', '/r/dist/daemon/latchd.js', ...config]),
    ),
    ['--cpu-prof', '--cpu-prof-dir=/tmp/p'],
  )
})

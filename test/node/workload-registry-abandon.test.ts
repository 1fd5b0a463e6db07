/**
 * Workload requests that arrive while latchd starts wait for bind() (pair authentication and the
 * datapath running). When latchd stops before that (a later component such as pair authentication
 * failed to start), abandon() answers them, and any later one, with LATCH_ERR_WORKLOAD_UNAVAILABLE
 * instead of leaving them waiting for ever; once bound, abandon() changes nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import pino from 'pino'
import { daemonPkiFiles } from '../../certs/layout.js'
import { isLatchError } from '../../daemon/base/errors.js'
import { type Component, startComponents } from '../../daemon/base/lifecycle.js'
import { configSchema } from '../../daemon/config/schema.js'
import { addWorkload } from '../../daemon/control/workload-client.js'
import type { InterfaceLookup } from '../../daemon/engine/interfaces.js'
import { controlSocketComponent } from '../../daemon/node/components/control-socket.js'
import type { DaemonParts } from '../../daemon/node/parts.js'
import { WorkloadRegistry } from '../../daemon/node/workload-registry.js'

let dir: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-abandon-'))
})
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const ifs: InterfaceLookup = {
  ifindex: (name) => (name === 'lw1' ? 7 : undefined),
  nameOf: (i) => (i === 7 ? 'lw1' : undefined),
  hostPeerOf: async () => {
    throw new Error('not used')
  },
}

/** A node config whose files live under `dir/sub`. */
function configIn(sub: string, extra: Record<string, unknown> = {}) {
  const d = join(dir, sub)
  return configSchema.parse({
    node: 'node1',
    trustDomain: 'ab.latch',
    pki: daemonPkiFiles(join(d, 'pki'), 'node1'),
    listen: { address: '127.0.0.1' },
    workloadCidrs: ['10.202.1.0/24'],
    wireguard: { address: '10.96.0.1/32', privateKeyFile: join(d, 'wg.key') },
    peersFile: join(d, 'peers.yaml'),
    workloads: [],
    registrations: { file: join(d, 'workloads.json'), svidDir: join(d, 'workloads') },
    ...extra,
  })
}

function registry(sub: string): WorkloadRegistry {
  return new WorkloadRegistry(configIn(sub), pino({ level: 'silent' }), ifs)
}

const W = {
  cmd: 'workload_add' as const,
  id: 'spiffe://ab.latch/ns/ab/sa/w',
  ips: ['10.202.1.11'],
  interface: 'lw1',
}

async function unavailable(t: import('ava').ExecutionContext, p: Promise<unknown>): Promise<void> {
  const err = await t.throwsAsync(p)
  t.true(isLatchError(err) && err.code === 'LATCH_ERR_WORKLOAD_UNAVAILABLE', String(err))
  t.regex(String(err?.message), /not serving workload registrations.*nothing was registered/)
}

test('requests queued before bind get LATCH_ERR_WORKLOAD_UNAVAILABLE when latchd stops first', async (t) => {
  const r = registry('queued')
  await r.load()
  const add = r.add(W)
  const remove = r.remove({ cmd: 'workload_remove', owner: 'cni:c1:eth0' })
  let settled = false
  void add
    .catch(() => undefined)
    .finally(() => {
      settled = true
    })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.false(settled, 'a request before bind waits')
  await r.abandon('pair authentication failed to start')
  await unavailable(t, add)
  await unavailable(t, remove)
  // later requests too, and a late bind does not revive it
  r.bind({})
  await unavailable(t, r.add(W))
  t.deepEqual(r.list(), [])
})

test('abandon after bind is a no-op: requests are served', async (t) => {
  const r = registry('bound')
  await r.load()
  r.bind({})
  await r.abandon('stopping')
  const w = await r.add(W)
  t.is(w.id, W.id)
  t.is(w.interface, 'lw1')
  t.deepEqual(await r.remove({ cmd: 'workload_remove', id: W.id }), {
    removed: true,
    workload: { ...w, ready: false },
  })
})

test('over the control socket: a workload_add queued during a start that fails gets the code, not a dropped connection', async (t) => {
  const d = join(dir, 'socket')
  const config = configIn('socket', { controlSocket: join(d, 'latchd.sock') })
  const parts = {
    config,
    logger: pino({ level: 'silent' }),
    guards: { control: undefined },
    workloads: new WorkloadRegistry(config, pino({ level: 'silent' }), ifs),
  } as unknown as DaemonParts
  let reply: Promise<unknown> | undefined
  const failingPairAuth: Component<DaemonParts> = {
    name: 'pair authentication',
    async start() {
      reply = addWorkload(config.controlSocket, { id: W.id, ips: W.ips, interface: W.interface })
      void reply.catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 200)) // the request is queued by now
      throw new Error('pair authentication could not listen')
    },
  }
  await t.throwsAsync(startComponents([controlSocketComponent, failingPairAuth], parts), {
    message: /could not listen/,
  })
  const err = await t.throwsAsync(reply as Promise<unknown>)
  t.true(isLatchError(err) && err.code === 'LATCH_ERR_WORKLOAD_UNAVAILABLE', String(err))
})

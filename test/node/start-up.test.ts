/**
 * latchd's start-up as a component list, with the real components on 127.0.0.1 and a fake engine
 * (the real one needs WireGuard; test/node/daemon-netns.test.ts runs it): a failure part-way stops
 * exactly what started, in reverse, and releases its listeners; stop() undoes a full start.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { pino } from 'pino'
import { daemonPkiFiles } from '../../certs/index.js'
import type { Component } from '../../daemon/base/lifecycle.js'
import { parseConfig } from '../../daemon/config/load.js'
import { listWorkloads } from '../../daemon/control/workload-client.js'
import type { Engine } from '../../daemon/engine/index.js'
import { startDaemon } from '../../daemon/node/daemon.js'
import type { DaemonParts } from '../../daemon/node/parts.js'
import { COMPONENTS } from '../../daemon/node/start-up.js'
import { TestPki } from '../pki.js'

let dir: string

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-start-up-'))
  await TestPki.create({
    trustDomain: 'su.latch',
    dir: join(dir, 'pki'),
    nodes: [{ name: 'alpha', ip: '127.0.0.1', cidrs: ['10.91.1.0/24'] }],
  })
  await writeFile(join(dir, 'peers.yaml'), '[]\n')
})
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** An engine that records start/stop (the real one is exercised in the netns tests). */
function fakeEngine(log: string[]): Engine {
  return {
    start: async () => {
      log.push('engine start')
      return { publicKey: 'x'.repeat(43) + '=', adopted: false }
    },
    upsertPeer: () => undefined,
    removePeer: () => undefined,
    flush: async () => ({ changed: false, actions: [] }) as never,
    status: async () => ({ publicKey: 'x'.repeat(43) + '=', listenPort: 0, peers: [] }) as never,
    stop: async () => {
      log.push('engine stop')
    },
  }
}

async function freePort(): Promise<number> {
  const o = await occupiedPort()
  await new Promise((r) => o.server.close(r))
  return o.port
}

async function configWith(name: string, extra: Record<string, unknown> = {}) {
  return parseConfig(
    {
      node: 'alpha',
      trustDomain: 'su.latch',
      pki: daemonPkiFiles(join(dir, 'pki'), 'alpha'),
      listen: { address: '127.0.0.1', port: await freePort() },
      workloadCidrs: ['10.91.1.0/24'],
      wireguard: {
        interface: 'latchsu0',
        listenPort: 51820,
        address: '10.90.0.1/32',
        privateKeyFile: join(dir, `${name}.wgkey`),
      },
      peersFile: join(dir, 'peers.yaml'),
      controlSocket: join(dir, `${name}.sock`),
      datapath: { enabled: false, pinDir: join(dir, `${name}-bpf`) },
      ...extra,
    },
    join(dir, `${name}.yaml`),
  )
}

/** Wrap every component so the order of starts and stops is recorded. */
function traced(log: string[]): Component<DaemonParts>[] {
  return COMPONENTS.map((c) => ({
    name: c.name,
    async start(p) {
      await c.start(p)
      log.push(`start ${c.name}`)
    },
    async stop(p) {
      log.push(`stop ${c.name}`)
      await c.stop?.(p)
    },
  }))
}

async function occupiedPort(): Promise<{ server: Server; port: number }> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const a = server.address()
  return { server, port: typeof a === 'object' && a ? a.port : 0 }
}

test('the metrics port taken: start fails, and what started before it stops in reverse order', async (t) => {
  const taken = await occupiedPort()
  const log: string[] = []
  const config = await configWith('fail', { metrics: { address: '127.0.0.1', port: taken.port } })
  try {
    const err = await t.throwsAsync(
      startDaemon({ config, logger: pino({ level: 'silent' }), engine: fakeEngine(log) }, traced(log)),
    )
    t.is((err as { code?: string }).code, 'LATCH_ERR_DAEMON_LISTEN_FAILED')
  } finally {
    await new Promise((r) => taken.server.close(r))
  }
  const started = [
    'identity',
    'workloads',
    'engine',
    'datapath',
    'mesh',
    'listener limits',
    'inventory',
    'handshake listener',
    'discovery',
    'control socket',
  ]
  t.deepEqual(
    log.filter((l) => l.startsWith('start ')),
    started.map((n) => `start ${n}`),
  )
  t.deepEqual(
    log.filter((l) => l.startsWith('stop ')),
    [...started].reverse().map((n) => `stop ${n}`),
  )
  t.true(log.includes('engine stop'), 'the engine was stopped (WireGuard left in place)')
  t.false(
    log.some((l) => /pair authentication|peering/.test(l)),
    'later components never started',
  )
  t.false(existsSync(config.controlSocket), 'the control socket was removed')
})

test('a full start stops every component in reverse order, once', async (t) => {
  const log: string[] = []
  const config = await configWith('full')
  const d = await startDaemon(
    { config, logger: pino({ level: 'silent' }), engine: fakeEngine(log) },
    traced(log),
  )
  t.true(d.listenPort > 0)
  t.true(existsSync(config.controlSocket))
  const r = await d.status()
  t.true(r.ok && 'status' in r && r.status.node === 'alpha')
  t.deepEqual(await listWorkloads(config.controlSocket), [], 'workload_list answers on the control socket')
  await d.stop()
  await d.stop()
  const names = COMPONENTS.map((c) => c.name)
  t.deepEqual(
    log.filter((l) => l.startsWith('stop ')),
    [...names].reverse().map((n) => `stop ${n}`),
  )
  t.false(existsSync(config.controlSocket))
})

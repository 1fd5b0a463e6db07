/**
 * latchd's reload (SIGHUP, `systemctl reload latchd`): daemon.reload(configFile) re-reads the peers
 * file now (before the watcher's debounce would), keeps the running config and names the changed
 * keys that need a restart, and reports an unreadable config without touching what runs; /readyz
 * answers 503 until start-up has finished and /healthz answers while it runs (the DaemonSet probes). Real
 * components on 127.0.0.1 with a fake engine (the real engine runs in test/node/daemon-netns.test.ts
 * and, under systemd, in test/packaging/systemd-lane.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { pino } from 'pino'
import { stringify } from 'yaml'
import { daemonPkiFiles, initCa, issueNode } from '../../certs/index.js'
import { loadConfig } from '../../daemon/config/load.js'
import type { Engine } from '../../daemon/engine/index.js'
import { startDaemon } from '../../daemon/node/daemon.js'
import { COMPONENTS } from '../../daemon/node/start-up.js'

let dir: string
let port: number

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const a = server.address()
  await new Promise((r) => server.close(r))
  return typeof a === 'object' && a ? a.port : 0
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-reload-'))
  await initCa({ dir: join(dir, 'pki'), trustDomain: 'rl.latch' })
  await issueNode({ dir: join(dir, 'pki'), node: 'alpha', ip: '127.0.0.1', workloadCidrs: ['10.92.1.0/24'] })
  port = await freePort()
})
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true })
})

function fakeEngine(): Engine {
  return {
    start: async () => ({ publicKey: `${'x'.repeat(43)}=`, adopted: false }),
    upsertPeer: () => undefined,
    removePeer: () => undefined,
    flush: async () => ({ changed: false, actions: [] }) as never,
    status: async () => ({ publicKey: `${'x'.repeat(43)}=`, listenPort: 0, peers: [] }) as never,
    stop: async () => undefined,
  }
}

function raw(extra: Record<string, unknown> = {}) {
  return {
    node: 'alpha',
    trustDomain: 'rl.latch',
    pki: daemonPkiFiles(join(dir, 'pki'), 'alpha'),
    listen: { address: '127.0.0.1', port },
    workloadCidrs: ['10.92.1.0/24'],
    wireguard: {
      interface: 'latchrl0',
      listenPort: 51820,
      address: '10.90.1.1/32',
      privateKeyFile: join(dir, 'wg.key'),
    },
    peersFile: join(dir, 'peers.yaml'),
    controlSocket: join(dir, 'latchd.sock'),
    datapath: { enabled: false, pinDir: join(dir, 'bpf') },
    ...extra,
  }
}

test.serial('reload re-reads the peers file now, and names config keys that need a restart', async (t) => {
  const file = join(dir, 'latchd.yaml')
  await writeFile(join(dir, 'peers.yaml'), '[]\n')
  await writeFile(file, stringify(raw()))
  const config = await loadConfig(file)
  const daemon = await startDaemon({ config, logger: pino({ level: 'silent' }), engine: fakeEngine() })
  try {
    t.deepEqual(await daemon.reload(file), { restartNeeded: [] })
    t.is(daemon.mesh.snapshot().length, 0)

    await writeFile(join(dir, 'peers.yaml'), stringify([{ name: 'beta', address: '127.0.0.2', port: 7443 }]))
    await daemon.reload(file)
    t.deepEqual(
      daemon.mesh.snapshot().map((p) => p.name),
      ['beta'],
      'the new peer is in the mesh as soon as reload resolves',
    )

    await writeFile(file, stringify(raw({ rekeyInterval: '30s', log: { level: 'debug' } })))
    const r = await daemon.reload(file)
    t.deepEqual(r.restartNeeded, ['log', 'rekeyInterval'])
    t.is(daemon.config.rekeyInterval, 120_000, 'the running config stays until a restart')

    await writeFile(file, 'node: [unclosed\n')
    const bad = await daemon.reload(file)
    t.is(bad.configError, 'LATCH_ERR_CONFIG_INVALID')
    t.deepEqual(
      daemon.mesh.snapshot().map((p) => p.name),
      ['beta'],
    )
  } finally {
    await daemon.stop()
  }
})

test.serial(
  '/readyz is 503 until the last component has started, then 200; /healthz is 200 throughout',
  async (t) => {
    const file = join(dir, 'probes.yaml')
    await writeFile(join(dir, 'peers.yaml'), '[]\n')
    const metricsPort = await freePort()
    await writeFile(file, stringify(raw({ metrics: { address: '127.0.0.1', port: metricsPort } })))
    const config = await loadConfig(file)
    let release: () => void = () => undefined
    const held = new Promise<void>((r) => {
      release = r
    })
    let reached: () => void = () => undefined
    const atLast = new Promise<void>((r) => {
      reached = r
    })
    const last = {
      name: 'held back',
      async start() {
        reached()
        await held
      },
    }
    const starting = startDaemon({ config, logger: pino({ level: 'silent' }), engine: fakeEngine() }, [
      ...COMPONENTS,
      last,
    ])
    await atLast
    const url = (p: string) => `http://127.0.0.1:${metricsPort}${p}`
    t.is((await fetch(url('/readyz'))).status, 503, 'not ready while start-up runs')
    t.is((await fetch(url('/healthz'))).status, 200)
    release()
    const daemon = await starting
    try {
      t.is((await fetch(url('/readyz'))).status, 200)
      t.is(await (await fetch(url('/healthz'))).text(), 'ok\n')
    } finally {
      await daemon.stop()
    }
    await t.throwsAsync(fetch(url('/healthz')), undefined, 'the listener is closed after stop')
  },
)

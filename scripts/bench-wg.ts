/**
 * scripts/bench-wg: see the shell wrapper. Options: --sizes 10,100,1000,5000 --out FILE.
 * The outer process makes the namespace and re-runs itself inside it with --inner.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { execa } from 'execa'
import { pino } from 'pino'
import { createEngine, type PeerSession } from '../daemon/engine/index.js'
import { ExecaRunner, type RunOptions, type RunResult } from '../daemon/transport/runner.js'
import { generatePrivateKey } from '../daemon/transport/wg-key.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const NS = 'latch-bench-wg'
const DIR = '/run/latch-bench-wg'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1000,5000' },
    out: { type: 'string', default: join(REPO, 'bench-results', 'wg.json') },
    inner: { type: 'boolean', default: false },
  },
})
const sizes = (args.sizes ?? '').split(',').map(Number)

interface Row {
  peers: number
  step: string
  ms: number
  wgProcesses: number
  routeChanges: number
}

class CountingRunner extends ExecaRunner {
  sets = 0
  override run(cmd: string, a: readonly string[], o?: RunOptions): Promise<RunResult> {
    if (cmd === 'wg' && a[0] === 'set') this.sets++
    return super.run(cmd, a, o)
  }
}

function sessions(n: number): PeerSession[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `peer${i}`,
    wgPublicKey: generatePrivateKey(), // any 32 bytes are a valid public key for programming
    presharedKey: generatePrivateKey(),
    endpoint: `10.98.${(i >> 8) & 255}.${i & 255}:51820`,
    tunnelAddress: `10.101.${(i >> 8) & 255}.${i & 255}/32`,
    workloadCidrs: [`10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`],
    establishedAt: new Date(),
  }))
}

async function inner(): Promise<void> {
  const rows: Row[] = []
  const logger = pino({ level: 'warn' })
  for (const [idx, n] of sizes.entries()) {
    const runner = new CountingRunner()
    const engine = createEngine({
      wireguard: {
        interface: `latchb${idx}`,
        listenPort: 52000 + idx,
        address: `10.111.${idx}.1/32`,
        privateKeyFile: `${DIR}/wg${idx}.key`,
        backend: 'auto',
      },
      logger,
      runner,
    })
    await engine.start()
    const peers = sessions(n)
    const step = async (name: string, act: () => void): Promise<void> => {
      const sets = runner.sets
      const t0 = performance.now()
      act()
      const r = await engine.flush()
      rows.push({
        peers: n,
        step: name,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        wgProcesses: runner.sets - sets,
        routeChanges: r.actions.filter((a) => a.startsWith('route')).length,
      })
    }
    await step('add all', () => {
      for (const p of peers) engine.upsertPeer(p)
    })
    await step('no change', () => {
      for (const p of peers) engine.upsertPeer(p)
    })
    await step('rotate every PSK', () => {
      for (const p of peers) engine.upsertPeer({ ...p, presharedKey: generatePrivateKey() })
    })
    await step('rotate one PSK', () => {
      const p = peers[0]
      if (p) engine.upsertPeer({ ...p, presharedKey: generatePrivateKey() })
    })
    await step('remove all', () => {
      for (const p of peers) engine.removePeer(p.name)
    })
    await engine.stop()
  }
  process.stdout.write(JSON.stringify(rows))
}

async function outer(): Promise<void> {
  const teardown = async (): Promise<void> => {
    const pids = await execa('ip', ['netns', 'pids', NS], { reject: false })
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
    await execa('ip', ['netns', 'del', NS], { reject: false })
    rmSync(DIR, { recursive: true, force: true })
  }
  await teardown()
  mkdirSync(`${DIR}/wireguard`, { recursive: true, mode: 0o700 })
  await execa('ip', ['netns', 'add', NS])
  let rows: Row[]
  try {
    const script = `mkdir -p /var/run/wireguard && mount --bind ${DIR}/wireguard /var/run/wireguard && exec "$@"`
    const r = await execa(
      'ip',
      ['netns', 'exec', NS, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh'].concat([
        process.execPath,
        '--import=tsx',
        fileURLToPath(import.meta.url),
        '--inner',
        '--sizes',
        sizes.join(','),
      ]),
      { cwd: REPO, stderr: 'inherit' },
    )
    rows = JSON.parse(r.stdout) as Row[]
  } finally {
    await teardown()
  }
  console.log('peers  step               ms       wg processes  route changes')
  for (const r of rows) {
    console.log(
      `${String(r.peers).padStart(5)}  ${r.step.padEnd(17)} ${r.ms.toFixed(1).padStart(8)}  ${String(r.wgProcesses).padStart(12)}  ${String(r.routeChanges).padStart(13)}`,
    )
  }
  const out = args.out ?? ''
  mkdirSync(dirname(out), { recursive: true })
  const wgGo = (await execa('wireguard-go', ['--version'], { reject: false })).stdout.split('\n')[0]?.trim()
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), kernel: release(), cpus: cpus().length, backend: 'wireguard-go', wireguardGo: wgGo, rows }, null, 2)}\n`,
  )
  console.log(`wrote ${out}`)
}

await (args.inner ? inner() : outer())

/**
 * scripts/bench-wg: see the shell wrapper. Options: --sizes 10,100,1000,5000 --out FILE,
 * --control uapi,wg (how the engine reads and programs wireguard-go: its UAPI socket spoken
 * directly, or the `wg` tool; each size runs once per control on an interface of its own, so the
 * two are compared in the same run), and
 * --per-peer: also program the same peers with one `wg set` process per peer (the design latch
 * avoids), onto the emptied interface. Memory: the RSS of this engine process and of wireguard-go
 * before and after adding N peers (`memory` in the JSON).
 * The outer process makes the namespace and re-runs itself inside it with --inner.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { execa } from 'execa'
import { pino } from 'pino'
import { createEngine, type PeerSession } from '../daemon/engine/index.js'
import { ProcessRunner, type RunOptions, type RunResult } from '../daemon/transport/runner.js'
import { generatePrivateKey } from '../daemon/transport/wg-key.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const NS = 'latch-bench-wg'
const DIR = '/run/latch-bench-wg'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1000,5000' },
    control: { type: 'string', default: 'uapi,wg' },
    out: { type: 'string', default: join(REPO, 'bench-results', 'wg.json') },
    inner: { type: 'boolean', default: false },
    'per-peer': { type: 'boolean', default: false },
    /** Write a V8 CPU profile of the engine process (the inner one) into this directory. */
    'cpu-prof': { type: 'string' },
  },
})
const sizes = (args.sizes ?? '').split(',').map(Number)
const controls = (args.control ?? '').split(',').filter(Boolean)
for (const c of controls) if (c !== 'uapi' && c !== 'wg') throw new Error(`--control: ${c} is not uapi or wg`)

interface Row {
  peers: number
  /** `uapi` or `wg` (rows of --per-peer: always `wg`). */
  control: string
  step: string
  ms: number
  wgProcesses: number
  routeChanges: number
}

interface Memory {
  peers: number
  control: string
  /** RSS (MiB) of the process running the engine, before and after adding the peers. */
  engineRssBeforeMiB: number
  engineRssAfterMiB: number
  /** RSS (MiB) of the interface's wireguard-go, before and after. */
  wireguardGoRssBeforeMiB: number
  wireguardGoRssAfterMiB: number
}

const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10

/** RSS of the wireguard-go serving `iface` (found by its argv), in bytes; 0 if none. */
function wireguardGoRss(iface: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (!argv[0]?.endsWith('wireguard-go') || !argv.includes(iface)) continue
      const m = readFileSync(`/proc/${entry}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)
      return m ? Number(m[1]) * 1024 : 0
    } catch {}
  }
  return 0
}

class CountingRunner extends ProcessRunner {
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
  const memory: Memory[] = []
  const logger = pino({ level: 'warn' })
  const runs = sizes.flatMap((n) => controls.map((control) => ({ n, control: control as 'uapi' | 'wg' })))
  for (const [idx, { n, control }] of runs.entries()) {
    const runner = new CountingRunner()
    const engine = createEngine({
      wireguard: {
        interface: `latchb${idx}`,
        listenPort: 52000 + idx,
        address: `10.111.${idx}.1/32`,
        privateKeyFile: `${DIR}/wg${idx}.key`,
        backend: 'auto',
        userspaceControl: control,
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
        control,
        step: name,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        wgProcesses: runner.sets - sets,
        routeChanges: r.actions.filter((a) => a.startsWith('route')).length,
      })
    }
    const iface = `latchb${idx}`
    const rssBefore = [process.memoryUsage().rss, wireguardGoRss(iface)] as const
    await step('add all', () => {
      for (const p of peers) engine.upsertPeer(p)
    })
    memory.push({
      peers: n,
      control,
      engineRssBeforeMiB: mib(rssBefore[0]),
      engineRssAfterMiB: mib(process.memoryUsage().rss),
      wireguardGoRssBeforeMiB: mib(rssBefore[1]),
      wireguardGoRssAfterMiB: mib(wireguardGoRss(iface)),
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
    // once per size, on the wg run's interface (one wg set per peer needs no comparison of controls)
    if (args['per-peer'] && control === (controls.includes('wg') ? 'wg' : controls[0]))
      rows.push(await perPeer(runner, iface, peers))
    await engine.stop()
  }
  process.stdout.write(JSON.stringify({ rows, memory }))
}

/** The same peers with one `wg set` process each (PSK from a 0600 file, as the engine does). */
async function perPeer(runner: CountingRunner, iface: string, peers: PeerSession[]): Promise<Row> {
  const dir = `${DIR}/psk-${iface}`
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const sets = runner.sets
  const t0 = performance.now()
  for (const [i, p] of peers.entries()) {
    const file = `${dir}/${i}`
    writeFileSync(file, `${p.presharedKey}\n`, { mode: 0o600 })
    const r = await runner.run('wg', [
      'set',
      iface,
      'peer',
      p.wgPublicKey,
      'preshared-key',
      file,
      'endpoint',
      p.endpoint,
      'allowed-ips',
      [p.tunnelAddress, ...p.workloadCidrs].join(','),
    ])
    rmSync(file)
    if (r.exitCode !== 0) throw new Error(`wg set for peer ${i} failed: ${r.stderr}`)
  }
  const ms = performance.now() - t0
  const wgProcesses = runner.sets - sets
  const cleared = await runner.run('wg', [
    'set',
    iface,
    ...peers.flatMap((p) => ['peer', p.wgPublicKey, 'remove']),
  ])
  if (cleared.exitCode !== 0) throw new Error(`removing the per-peer peers failed: ${cleared.stderr}`)
  rmSync(dir, { recursive: true, force: true })
  return {
    peers: peers.length,
    control: 'wg',
    step: 'one wg set per peer',
    ms: Math.round(ms * 10) / 10,
    wgProcesses,
    routeChanges: 0,
  }
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
  let memory: Memory[]
  try {
    const script = `mkdir -p /var/run/wireguard && mount --bind ${DIR}/wireguard /var/run/wireguard && exec "$@"`
    const r = await execa(
      'ip',
      ['netns', 'exec', NS, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh'].concat([
        process.execPath,
        ...(args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : []),
        '--import=tsx',
        fileURLToPath(import.meta.url),
        '--inner',
        '--sizes',
        sizes.join(','),
        '--control',
        controls.join(','),
        ...(args['per-peer'] ? ['--per-peer'] : []),
      ]),
      { cwd: REPO, stderr: 'inherit' },
    )
    ;({ rows, memory } = JSON.parse(r.stdout) as { rows: Row[]; memory: Memory[] })
  } finally {
    await teardown()
  }
  console.log('peers  control  step                 ms       wg processes  route changes')
  for (const r of rows) {
    console.log(
      `${String(r.peers).padStart(5)}  ${r.control.padEnd(7)}  ${r.step.padEnd(19)} ${r.ms.toFixed(1).padStart(8)}  ${String(r.wgProcesses).padStart(12)}  ${String(r.routeChanges).padStart(13)}`,
    )
  }
  console.log('\npeers  control  engine RSS MiB before -> after  wireguard-go RSS MiB before -> after')
  for (const m of memory) {
    console.log(
      `${String(m.peers).padStart(5)}  ${m.control.padEnd(7)}  ${`${m.engineRssBeforeMiB} -> ${m.engineRssAfterMiB}`.padStart(29)}  ${`${m.wireguardGoRssBeforeMiB} -> ${m.wireguardGoRssAfterMiB}`.padStart(35)}`,
    )
  }
  const out = args.out ?? ''
  mkdirSync(dirname(out), { recursive: true })
  const wgGo = (await execa('wireguard-go', ['--version'], { reject: false })).stdout.split('\n')[0]?.trim()
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), kernel: release(), cpus: cpus().length, backend: 'wireguard-go', wireguardGo: wgGo, rows, memory }, null, 2)}\n`,
  )
  console.log(`wrote ${out}`)
}

await (args.inner ? inner() : outer())

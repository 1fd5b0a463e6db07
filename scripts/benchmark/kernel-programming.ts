/**
 * Latch alone, programming the kernel at scale, by running the part benchmarks (their measurement,
 * not a copy of it) and reading their JSON: scripts/bench-wg (N WireGuard peers batched through
 * the engine, over the UAPI socket and through `wg set`, vs one `wg set` per peer; RSS of the engine process and wireguard-go with N peers)
 * scripts/bench-datapath (100k ipcache entries in one batch vs one by one) and
 * scripts/bench-policy-load (big policies compiled and written into the pinned maps).
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { LatchError } from '../../daemon/base/errors.js'
import { REPO, SCRATCH_DIR } from './paths.js'

export interface WgRow {
  peers: number
  /** `uapi` or `wg` (absent in results of older runs: `wg`). */
  control?: string
  step: string
  ms: number
  wgProcesses: number
  routeChanges: number
}

export interface WgMemory {
  peers: number
  control?: string
  engineRssBeforeMiB: number
  engineRssAfterMiB: number
  wireguardGoRssBeforeMiB: number
  wireguardGoRssAfterMiB: number
}

export interface WgBench {
  rows: WgRow[]
  memory: WgMemory[]
  wireguardGo?: string
}

export interface IpcacheRow {
  method: string
  entries: number
  totalMs: number
  usPerEntry: number
}

async function runScript<T>(script: string, args: string[], out: string): Promise<T> {
  const argv = ['--import=tsx', join(REPO, 'scripts', script), ...args, '--out', out]
  const r = await execa(process.execPath, argv, { cwd: REPO, reject: false, timeout: 600_000 })
  if (r.exitCode !== 0) {
    throw new LatchError(
      'LATCH_ERR_BENCH_TOOL_FAILED',
      `scripts/${script} ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}):\n${String(
        r.stderr || r.stdout,
      )
        .trim()
        .split('\n')
        .slice(-15)
        .join('\n')}`,
      { details: { script, args } },
    )
  }
  try {
    return JSON.parse(await readFile(out, 'utf8')) as T
  } finally {
    await rm(out, { force: true })
  }
}

/** One size of scripts/bench-policy-load (its JSON row). */
export interface PolicyLoadRow {
  rules: number
  acceptedMs: number
  mapWrittenMs: number
  peakRssMiB: number
  rssLoadedMiB: number
  maxStallMs: number
}

export async function policyLoad(sizes: number[]): Promise<PolicyLoadRow[]> {
  const r = await runScript<{ rows: PolicyLoadRow[] }>(
    'bench-policy-load.ts',
    ['--sizes', sizes.join(','), '--maps', 'kernel'],
    join(SCRATCH_DIR, 'policy-load.json'),
  )
  return r.rows
}

export function wgPeers(sizes: number[]): Promise<WgBench> {
  return runScript<WgBench>(
    'bench-wg.ts',
    ['--sizes', sizes.join(','), '--per-peer'],
    join(SCRATCH_DIR, 'wg.json'),
  )
}

export async function ipcacheWrites(entries: number): Promise<IpcacheRow[]> {
  // few test-run repetitions: only the map writes are wanted here
  const r = await runScript<{ ipcacheWrites: IpcacheRow[] }>(
    'bench-datapath.ts',
    ['--entries', String(entries), '--repeat', '1000', '--rounds', '1'],
    join(SCRATCH_DIR, 'datapath.json'),
  )
  return r.ipcacheWrites
}

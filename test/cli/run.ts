/**
 * Run latchctl as a user would (a separate process, from the TypeScript sources) and capture the
 * result. At most a few run at once per test file: a table of 40 cases started together on a
 * 2-core machine made single runs (each a tsx start) exceed their timeout, which failed cases
 * whose output was right.
 */
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { scaled } from '../../daemon/base/time-scale.js'

const MAIN = fileURLToPath(new URL('../../daemon/cli/main.ts', import.meta.url))
const MAX_RUNNING = Math.max(2, availableParallelism())

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
}

let running = 0
const waiting: (() => void)[] = []

async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve))
  running++
  try {
    return await f()
  } finally {
    running--
    waiting.shift()?.()
  }
}

export async function latchctl(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await slot(() =>
    execa(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      reject: false,
      env: { LATCH_PKI_DIR: '', ...env },
      timeout: scaled(60_000),
    }),
  )
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }
}

/** Run latchctl as a user would (a separate process, from the TypeScript sources) and capture the result. */
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'

const MAIN = fileURLToPath(new URL('../../daemon/cli/main.ts', import.meta.url))

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
}

export async function latchctl(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await execa(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    reject: false,
    env: { LATCH_PKI_DIR: '', ...env },
    timeout: 60_000,
  })
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }
}

/**
 * The lab's one way to run a program: execa, no shell, errors turned into LatchErrors that quote
 * the command and what it printed. Lab set-up drives `ip`, `mount`, `unshare` and `nsenter`
 * through here (batched: one process per namespace, never one per link).
 */
import { execa } from 'execa'
import { LatchError } from '../base/errors.js'

export interface RunOptions {
  /** Fed to the program's stdin (e.g. an `ip -batch -` script). */
  input?: string
  /** Return a failed result instead of throwing. */
  allowFailure?: boolean
}

export interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
}

export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false,
    stripFinalNewline: false,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  })
  if (r.failed && r.exitCode === undefined) {
    const missing = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
    throw new LatchError(
      missing ? 'LATCH_ERR_LAB_TOOL_MISSING' : 'LATCH_ERR_LAB_COMMAND_FAILED',
      missing
        ? `${cmd} is not installed (or not on PATH)`
        : `${describe(cmd, args)} could not run: ${r.message}`,
      { cause: r.cause, details: { command: [cmd, ...args] } },
    )
  }
  const result = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 }
  if (result.exitCode !== 0 && !opts.allowFailure) {
    const out = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n')
    throw new LatchError(
      'LATCH_ERR_LAB_COMMAND_FAILED',
      `${describe(cmd, args)} exited with ${result.exitCode}${out ? `:\n${out}` : ''}${
        opts.input ? `\n(input was:\n${opts.input.trim()})` : ''
      }`,
      { details: { command: [cmd, ...args], exitCode: result.exitCode } },
    )
  }
  return result
}

function describe(cmd: string, args: readonly string[]): string {
  return `\`${[cmd, ...args].join(' ')}\``
}

import { spawn } from 'node:child_process'

/** Result of one process run. A non-zero exit is returned, not thrown: callers decide. */
export interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
}

export interface RunOptions {
  /** Written to the process's stdin (how secrets reach `wg` without touching argv). */
  input?: string
  /** Changes to the inherited environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>
}

/**
 * The one way the transport starts processes. The default runs them with node:child_process;
 * tests pass a recording runner and compare the transcript of commands.
 */
export interface CommandRunner {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
}

/** Exit code reported when the process could not be started at all (as a shell reports "not found"). */
export const SPAWN_FAILED_EXIT = 127
/** Output kept per stream; `wg show dump` of thousands of peers fits many times over. */
export const MAX_OUTPUT_BYTES = 16 << 20

/**
 * Runs commands with node:child_process. Never throws and never leaves an error unhandled: a
 * process that cannot be started (missing binary, EMFILE, EAGAIN, ENOMEM) becomes exit code 127
 * with the reason in stderr, so callers treat it like any failed command and retry later.
 *
 * Not execa: execa 9.6 throws synchronously on a spawn EMFILE ("subprocess.stdio is not iterable")
 * and leaves the child's `error` event without a listener, which kills the process with
 * "Error: spawn wg EMFILE" (issue 11).
 */
export class ProcessRunner implements CommandRunner {
  run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise<RunResult>((resolve) => {
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      const size = { out: 0, err: 0 }
      let done = false
      const finish = (r: RunResult) => {
        if (done) return
        done = true
        resolve(r)
      }
      const failed = (err: NodeJS.ErrnoException) =>
        finish({
          stdout: '',
          stderr: `cannot start ${cmd}: ${err.code ?? ''} ${err.message}`.trim(),
          exitCode: SPAWN_FAILED_EXIT,
        })
      const env = options.env === undefined ? undefined : mergeEnv(options.env)
      let child: ReturnType<typeof spawn>
      try {
        child = spawn(cmd, args, {
          stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
          ...(env && { env }),
        })
      } catch (err) {
        failed(err as NodeJS.ErrnoException)
        return
      }
      child.once('error', failed)
      child.stdout?.on('data', (c: Buffer) => {
        size.out += c.length
        if (size.out <= MAX_OUTPUT_BYTES) stdout.push(c)
      })
      child.stderr?.on('data', (c: Buffer) => {
        size.err += c.length
        if (size.err <= MAX_OUTPUT_BYTES) stderr.push(c)
      })
      for (const s of [child.stdout, child.stderr, child.stdin]) s?.on('error', () => undefined)
      if (options.input !== undefined && child.stdin) child.stdin.end(options.input)
      child.once('close', (code, signal) =>
        finish({
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8') + (signal ? `killed by ${signal}\n` : ''),
          exitCode: code ?? 1,
        }),
      )
    })
  }
}

function mergeEnv(changes: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

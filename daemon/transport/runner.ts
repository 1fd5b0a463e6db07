import { execa } from 'execa'

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
 * The one way the transport starts processes. The default runs them with execa; tests pass a
 * recording runner and compare the transcript of commands.
 */
export interface CommandRunner {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult>
}

/** Runs commands with execa; a missing binary becomes exitCode 127 with the error in stderr. */
export class ExecaRunner implements CommandRunner {
  async run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const result = await execa(cmd, args, {
      reject: false,
      ...(options.env === undefined ? {} : { env: options.env }),
      stripFinalNewline: false,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    })
    if (result.failed && result.exitCode === undefined) {
      return {
        stdout: '',
        stderr: result.originalMessage ?? result.message ?? 'failed to start',
        exitCode: 127,
      }
    }
    return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode ?? 1 }
  }
}

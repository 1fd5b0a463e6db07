import { asLatchError } from '../base/errors.js'

/**
 * Print an error the one way latchctl prints errors: `error LATCH_ERR_…: message` and a `fix:` line
 * on stderr (or one JSON object with --json), and return the registry's exit code.
 */
export function reportError(err: unknown, json: boolean): number {
  const e = asLatchError(err)
  if (json) {
    process.stderr.write(`${JSON.stringify({ error: e.toJSON() })}\n`)
  } else {
    process.stderr.write(`error ${e.code}: ${e.message}\n  fix: ${e.fix}\n`)
    if (e.code === 'LATCH_ERR_INTERNAL_BUG' && e.cause instanceof Error && e.cause.stack) {
      process.stderr.write(`${e.cause.stack}\n`)
    }
  }
  return e.exitCode
}

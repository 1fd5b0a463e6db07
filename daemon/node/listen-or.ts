/** A listener's failure as latchd reports it: LATCH_ERR_DAEMON_LISTEN_FAILED naming what and where. */
import { LatchError } from '../base/errors.js'

export async function listenOr<T>(what: string, where: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (err) {
    if (err instanceof LatchError) throw err
    throw new LatchError(
      'LATCH_ERR_DAEMON_LISTEN_FAILED',
      `cannot listen for ${what} on ${where}: ${(err as Error).message}`,
      {
        cause: err,
        details: { what, where },
      },
    )
  }
}

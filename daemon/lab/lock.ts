/**
 * One lab change at a time on a machine: `up` and `down` hold /run/latch-lab.lock (a file holding
 * the holder's PID, created exclusively). A lock whose holder is gone is taken over.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { LatchError } from '../base/errors.js'
import { alive } from './procs.js'

export const LAB_LOCK_FILE = '/run/latch-lab.lock'

export async function withLabLock<T>(fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      await writeFile(LAB_LOCK_FILE, `${process.pid}\n`, { flag: 'wx', mode: 0o644 })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number((await readFile(LAB_LOCK_FILE, 'utf8').catch(() => '')).trim())
      if (!Number.isInteger(holder) || holder <= 0 || !(await alive(holder))) {
        await rm(LAB_LOCK_FILE, { force: true })
        continue
      }
      if (Date.now() >= until) {
        throw new LatchError(
          'LATCH_ERR_LAB_COMMAND_FAILED',
          `another lab command (pid ${holder}) has been changing the lab for ${timeoutMs / 1000}s`,
          { details: { holder } },
        )
      }
      await sleep(200)
    }
  }
  try {
    return await fn()
  } finally {
    await rm(LAB_LOCK_FILE, { force: true })
  }
}

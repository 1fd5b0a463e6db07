/**
 * Writing the PKI to disk so that a failed command leaves nothing half-written: every file of a
 * command is first written to a temporary sibling (with its final mode, fsync'd), and only when all of
 * them exist are they renamed into place. If anything fails before the renames, the temporaries are
 * removed and the directory is as it was (directories created for the command are removed too).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { LatchError } from '../daemon/base/errors.js'

export interface PlannedFile {
  readonly path: string
  readonly data: string
  /** 0o600 for private keys, 0o644 otherwise. */
  readonly mode: number
}

export const KEY_MODE = 0o600
export const PUBLIC_MODE = 0o644
const DIR_MODE = 0o755
const PRIVATE_DIR_MODE = 0o700

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw new LatchError('LATCH_ERR_PKI_WRITE_FAILED', `cannot check ${path}`, { cause: err })
  }
}

/**
 * Create `dir` (with `mode`) and missing parents (0755); returns the topmost directory it created, to
 * undo, if any.
 */
async function makeDirs(dir: string, mode: number): Promise<string | undefined> {
  const missing: string[] = []
  for (let d = dir; !(await exists(d)); d = dirname(d)) {
    missing.push(d)
    if (dirname(d) === d) break
  }
  // Another writer (a concurrent renewal of a sibling workload) may create the same parents between
  // the check and mkdir: EEXIST of a directory is fine, and that directory is not ours to undo.
  let top: string | undefined
  for (const d of missing.reverse()) {
    try {
      await mkdir(d, { mode: d === dir ? mode : DIR_MODE })
      top ??= d
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(d)).isDirectory()) throw err
    }
  }
  return top
}

/** Best-effort clean-up after a failure: the original error is what the operator needs to see. */
async function removeQuietly(paths: readonly string[]): Promise<void> {
  for (const p of paths) await rm(p, { recursive: true, force: true }).catch(() => undefined)
}

/**
 * Write all `files` or none. Directories holding a private key are created 0700, others 0755.
 * Returns the paths written, in order.
 */
export async function commitFiles(files: readonly PlannedFile[]): Promise<string[]> {
  const createdDirs: string[] = []
  const temps: string[] = []
  try {
    const dirs = new Map<string, number>()
    for (const f of files) {
      const d = dirname(f.path)
      if (f.mode === KEY_MODE || !dirs.has(d)) dirs.set(d, f.mode === KEY_MODE ? PRIVATE_DIR_MODE : DIR_MODE)
    }
    for (const [d, mode] of dirs) {
      const created = await makeDirs(d, mode)
      if (created !== undefined) createdDirs.push(created)
    }
    for (const f of files) {
      const temp = join(dirname(f.path), `.${randomBytes(6).toString('hex')}.latch-tmp`)
      temps.push(temp)
      const handle = await open(temp, 'wx', f.mode)
      try {
        await handle.writeFile(f.data)
        await handle.chmod(f.mode)
        await handle.sync()
      } finally {
        await handle.close()
      }
    }
  } catch (cause) {
    await removeQuietly(temps)
    await removeQuietly(createdDirs.reverse())
    throw new LatchError('LATCH_ERR_PKI_WRITE_FAILED', `could not write ${files[0]?.path ?? 'files'}`, {
      cause,
    })
  }
  try {
    for (const [i, f] of files.entries()) await rename(temps[i] as string, f.path)
  } catch (cause) {
    await removeQuietly(temps)
    throw new LatchError('LATCH_ERR_PKI_WRITE_FAILED', 'could not move the new files into place', { cause })
  }
  return files.map((f) => f.path)
}

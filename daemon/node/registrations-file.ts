/**
 * The runtime workload registrations latchd keeps across restarts (config registrations.file):
 * JSON, mode 0600, written atomically (temp file in the same folder, fsync, rename), so a crash
 * leaves either the old or the new file, whole. A missing file is "no registrations"; a damaged one
 * is an error (LATCH_ERR_WORKLOAD_STATE_FILE) — never silently emptied, which would forget workloads
 * whose keys and datapath entries are still on the node.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { LatchError } from '../base/errors.js'

export const registrationSchema = z
  .object({
    id: z.string().startsWith('spiffe://'),
    ips: z.array(z.string()).min(1),
    /** Host-side interface in latchd's network namespace, and its ifindex when registered. */
    interface: z.string().optional(),
    ifindex: z.number().int().positive().optional(),
    netns: z.string().optional(),
    netnsInterface: z.string().optional(),
    owner: z.string().optional(),
    registeredAt: z.string(),
  })
  .strict()
export type Registration = z.infer<typeof registrationSchema>

const fileSchema = z.object({ version: z.literal(1), workloads: z.array(registrationSchema) }).strict()

export function readRegistrations(file: string): Registration[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new LatchError('LATCH_ERR_WORKLOAD_STATE_FILE', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { file },
    })
  }
  try {
    return fileSchema.parse(JSON.parse(text)).workloads
  } catch (err) {
    throw new LatchError('LATCH_ERR_WORKLOAD_STATE_FILE', `${file} is not a latch registrations file`, {
      cause: err,
      details: { file },
    })
  }
}

export function writeRegistrations(file: string, workloads: readonly Registration[]): void {
  const tmp = `${file}.tmp-${process.pid}`
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, `${JSON.stringify({ version: 1, workloads }, null, 1)}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
  } catch (err) {
    throw new LatchError('LATCH_ERR_WORKLOAD_STATE_FILE', `cannot write ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { file },
    })
  }
}

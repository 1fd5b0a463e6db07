/**
 * /run/latch-lab/lab.json: what `lab up` built (size, settings, daemon PIDs). `exec` and `status`
 * read it to know the lab's shape; `down` does NOT depend on it (it works from what it finds on
 * the machine), so a lost or stale file never leaves anything behind.
 */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { writeIfChanged } from './daemon-files.js'
import { LAB_STATE_FILE, MAX_NODES, MAX_WORKLOADS } from './plan.js'

const stateSchema = z
  .object({
    version: z.literal(1),
    size: z.object({
      nodes: z.number().int().min(1).max(MAX_NODES),
      workloads: z.number().int().min(1).max(MAX_WORKLOADS),
    }),
    rekeyInterval: z.string(),
    daemons: z.boolean(),
    /** Where lab daemons find each other: a peers file each, or the lab's etcd cluster. */
    discovery: z.enum(['file', 'etcd']).default('file'),
    /** etcd members stopped on purpose (`lab etcd stop`): `lab up` leaves them stopped. */
    etcdStopped: z.array(z.string()).default([]),
    createdAt: z.string(),
    /** node name → PID of its latchd as last started or found. */
    pids: z.record(z.number().int()),
  })
  .strict()

export type LabState = z.infer<typeof stateSchema>

/** The recorded state, or undefined when there is none (or it is unreadable: `up` rewrites it). */
export async function readState(file = LAB_STATE_FILE): Promise<LabState | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const parsed = stateSchema.safeParse(JSON.parse(text))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

export async function writeState(state: LabState, file = LAB_STATE_FILE): Promise<boolean> {
  return writeIfChanged(file, `${JSON.stringify(state, null, 2)}\n`)
}

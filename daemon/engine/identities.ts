/**
 * SPIFFE ID → identity id: the small integers the eBPF maps use. Ids are allocated from 1 upwards
 * and never reused while the allocation lives, so a stale map entry can never name a new identity.
 *
 * Where the allocation survives a restart: a JSON file (datapath.identitiesFile, 0600, written
 * atomically: temp file + rename) — not the pinned maps, because the maps hold only the integers,
 * never the SPIFFE IDs, and bpffs holds no regular files. The file is rewritten on every new id
 * (rare: once per identity a node ever sees). If the file is missing while the maps were adopted,
 * the caller must assume the maps' ids are unknown and clear them (fail closed; see datapath.ts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { z } from 'zod'
import { LatchError } from '../base/errors.js'
import { LatchIdentity } from '../datapath/index.js'

const U32_MAX = 0xffff_ffff
/** ids from here up are reserved by the datapath (LATCH_ID_NODE, …); never allocated */
const ID_LIMIT = LatchIdentity.LATCH_ID_RESERVED - 1

const fileSchema = z
  .object({
    version: z.literal(1),
    /** the next id to hand out */
    next: z.number().int().min(1).max(U32_MAX),
    ids: z.record(z.string().startsWith('spiffe://'), z.number().int().min(1).max(U32_MAX)),
  })
  .strict()

export interface IdentityAllocation {
  next: number
  ids: Map<string, number>
}

/** Reads the allocation; undefined when the file does not exist. A damaged file is an error. */
export function readIdentities(file: string): IdentityAllocation | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new LatchError(
      'LATCH_ERR_DATAPATH_IDENTITIES_FILE',
      `cannot read ${file}: ${(err as Error).message}`,
      {
        cause: err,
        details: { file },
      },
    )
  }
  let parsed: z.infer<typeof fileSchema>
  try {
    parsed = fileSchema.parse(JSON.parse(text))
  } catch (err) {
    throw new LatchError('LATCH_ERR_DATAPATH_IDENTITIES_FILE', `${file} is not a latch identity allocation`, {
      cause: err,
      details: { file },
    })
  }
  const ids = new Map(Object.entries(parsed.ids))
  const seen = new Set<number>()
  for (const [spiffeId, id] of ids) {
    if (seen.has(id) || id >= parsed.next) {
      throw new LatchError(
        'LATCH_ERR_DATAPATH_IDENTITIES_FILE',
        `${file} gives id ${id} to ${spiffeId} twice or beyond next=${parsed.next}`,
        { details: { file } },
      )
    }
    seen.add(id)
  }
  return { next: parsed.next, ids }
}

export function writeIdentities(file: string, a: IdentityAllocation): void {
  const body = {
    version: 1,
    next: a.next,
    ids: Object.fromEntries([...a.ids].sort((x, y) => x[1] - y[1])),
  }
  const tmp = `${file}.tmp-${process.pid}`
  try {
    writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
    renameSync(tmp, file)
  } catch (err) {
    throw new LatchError(
      'LATCH_ERR_DATAPATH_IDENTITIES_FILE',
      `cannot write ${file}: ${(err as Error).message}`,
      {
        cause: err,
        details: { file },
      },
    )
  }
}

/** The allocator the datapath engine uses: lookups are in memory, new ids are persisted at once. */
export class IdentityAllocator {
  readonly #file: string | undefined
  readonly #ids: Map<string, number>
  readonly #names = new Map<number, string>()
  #next: number

  /** `file` undefined keeps the allocation in memory only (tests, tools). */
  constructor(file: string | undefined, initial: IdentityAllocation = { next: 1, ids: new Map() }) {
    this.#file = file
    this.#ids = new Map(initial.ids)
    this.#next = initial.next
    for (const [name, id] of this.#ids) this.#names.set(id, name)
  }

  /** The id of `spiffeId`, allocating (and persisting) one when it has none. */
  idOf(spiffeId: string): number {
    const known = this.#ids.get(spiffeId)
    if (known !== undefined) return known
    if (this.#next > ID_LIMIT) {
      throw new LatchError(
        'LATCH_ERR_DATAPATH_IDENTITIES_FILE',
        `identity ids are exhausted (${ID_LIMIT} allocated; ids from ${LatchIdentity.LATCH_ID_RESERVED} are reserved)`,
      )
    }
    const id = this.#next
    const ids = new Map(this.#ids).set(spiffeId, id)
    // persist before use: an id the file does not hold must never reach a map
    if (this.#file) writeIdentities(this.#file, { next: id + 1, ids })
    this.#ids.set(spiffeId, id)
    this.#names.set(id, spiffeId)
    this.#next = id + 1
    return id
  }

  /** The id of `spiffeId` if it has one; never allocates. */
  peek(spiffeId: string): number | undefined {
    return this.#ids.get(spiffeId)
  }

  /** The SPIFFE ID of an id, if this allocation gave it out. */
  nameOf(id: number): string | undefined {
    return this.#names.get(id)
  }

  get size(): number {
    return this.#ids.size
  }
}

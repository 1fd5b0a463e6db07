/**
 * Watch a set of files for content changes: the directories are watched (so a rename-into-place,
 * an editor's temp-file save or a ConfigMap symlink swap is seen), events are debounced, and a
 * slow poll backs fs.watch up. `onChange` gets the contents of every file (undefined: unreadable)
 * whenever any of them differs from what it last saw; it runs one at a time.
 */
import { createHash } from 'node:crypto'
import { type FSWatcher, watch } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'

export type FileContents = ReadonlyMap<string, Buffer | undefined>

export interface WatchFilesOptions {
  /** Quiet time after the last event. Default 150 ms (a change is picked up well within 1 s). */
  debounceMs?: number
  /** Re-check this often without events; 0 = never. Default 5 s. */
  pollMs?: number
}

export class FileSetWatch {
  readonly #files: readonly string[]
  readonly #onChange: (contents: FileContents) => Promise<void> | void
  readonly #debounceMs: number
  readonly #watchers: FSWatcher[] = []
  readonly #poll: NodeJS.Timeout | undefined
  #debounce: NodeJS.Timeout | undefined
  #digest = ''
  #running: Promise<void> | undefined
  #again = false
  #closed = false

  /** `initial`: the contents the caller already acted on (no change is reported for them). */
  constructor(
    files: readonly string[],
    onChange: (contents: FileContents) => Promise<void> | void,
    initial: FileContents | undefined,
    o: WatchFilesOptions = {},
  ) {
    this.#files = [...new Set(files)]
    this.#onChange = onChange
    this.#debounceMs = o.debounceMs ?? 150
    if (initial !== undefined) this.#digest = digestOf(this.#files, initial)
    for (const dir of new Set(this.#files.map((f) => dirname(f)))) {
      try {
        // any event in the directory may be a swap (temp files, Kubernetes' ..data link): re-read
        const w = watch(dir, { persistent: false }, () => this.#schedule())
        w.on('error', () => undefined)
        this.#watchers.push(w)
      } catch {
        // a missing directory is covered by the poll
      }
    }
    const pollMs = o.pollMs ?? 5000
    if (pollMs > 0) {
      this.#poll = setInterval(() => this.#schedule(0), pollMs)
      this.#poll.unref()
    }
  }

  /** Read the files now and report a change; resolves when the callback is done. */
  check(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true
      return this.#running
    }
    this.#running = (async () => {
      do {
        this.#again = false
        const contents = await readAll(this.#files)
        if (this.#closed) return
        const digest = digestOf(this.#files, contents)
        if (digest === this.#digest) continue
        this.#digest = digest
        await this.#onChange(contents)
      } while (this.#again && !this.#closed)
    })().finally(() => {
      this.#running = undefined
    })
    return this.#running
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#debounce)
    clearInterval(this.#poll)
    for (const w of this.#watchers) w.close()
  }

  #schedule(ms = this.#debounceMs): void {
    if (this.#closed) return
    clearTimeout(this.#debounce)
    this.#debounce = setTimeout(() => void this.check(), ms)
    this.#debounce.unref()
  }
}

export async function readAll(files: readonly string[]): Promise<Map<string, Buffer | undefined>> {
  const out = new Map<string, Buffer | undefined>()
  await Promise.all(
    files.map(async (f) => {
      out.set(f, await readFile(f).catch(() => undefined))
    }),
  )
  return out
}

function digestOf(files: readonly string[], contents: FileContents): string {
  const h = createHash('sha256')
  for (const f of files) {
    const c = contents.get(f)
    h.update(`${f}\0${c === undefined ? '-' : c.length}\0`)
    if (c !== undefined) h.update(c)
  }
  return h.digest('hex')
}

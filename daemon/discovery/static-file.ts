/**
 * Static discovery: the peers file, loaded at start and reloaded when it changes.
 *
 * The directory is watched (not the file) so that editors and `mv`-style atomic replacements are
 * seen; events are debounced. A new file that is missing or invalid is rejected through `onError`
 * and the peers from the last good file stay in force.
 */
import { type FSWatcher, watch } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { asLatchError, LatchError } from '../base/errors.js'
import type { DiscoveryStatus } from '../wire/status.js'
import { diffPeers, type PeerEntry, parsePeersText } from './peers-file.js'
import type { Discovery } from './types.js'

export const DEFAULT_DEBOUNCE_MS = 200

export async function loadPeersFile(file: string, self: string): Promise<readonly PeerEntry[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new LatchError(
      code === 'ENOENT' ? 'LATCH_ERR_CONFIG_MISSING' : 'LATCH_ERR_CONFIG_INVALID',
      `peers file ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`}`,
      { cause: err, details: { file } },
    )
  }
  return parsePeersText(text, file, self)
}

export interface StaticPeersOptions {
  file: string
  self: string
  /** Called with the new list after a valid change (not for the initial load). */
  onChange: (peers: readonly PeerEntry[]) => void
  /** Called when a changed file is missing or invalid; the previous peers stay. */
  onError: (err: LatchError) => void
  debounceMs?: number
}

export class StaticPeers implements Discovery {
  readonly backend = 'file'
  #peers: readonly PeerEntry[] = []
  #rejected: { code: string; message: string; at: Date } | undefined
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #reloading: Promise<void> = Promise.resolve()
  readonly #opts: StaticPeersOptions

  constructor(opts: StaticPeersOptions) {
    this.#opts = opts
  }

  get peers(): readonly PeerEntry[] {
    return this.#peers
  }

  status(): DiscoveryStatus {
    return {
      backend: 'file',
      file: this.#opts.file,
      peers: this.#peers.length,
      ...(this.#rejected && {
        rejected: {
          code: this.#rejected.code,
          message: this.#rejected.message,
          at: this.#rejected.at.toISOString(),
        },
      }),
    }
  }

  /** Load the file (throws when missing/invalid) and start watching it. */
  async start(): Promise<readonly PeerEntry[]> {
    this.#peers = await loadPeersFile(this.#opts.file, this.#opts.self)
    const name = basename(this.#opts.file)
    this.#watcher = watch(dirname(this.#opts.file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name) this.#schedule()
    })
    this.#watcher.on('error', (err) => this.#reject(asLatchError(err)))
    return this.#peers
  }

  /** Re-read now (also what the watcher does after its debounce). Resolves when done. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(() => this.#reload())
    return this.#reloading
  }

  stop(): void {
    this.#watcher?.close()
    this.#watcher = undefined
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #reject(err: LatchError): void {
    this.#rejected = { code: err.code, message: err.message, at: new Date() }
    this.#opts.onError(err)
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.reload()
    }, this.#opts.debounceMs ?? DEFAULT_DEBOUNCE_MS)
  }

  async #reload(): Promise<void> {
    let next: readonly PeerEntry[]
    try {
      next = await loadPeersFile(this.#opts.file, this.#opts.self)
    } catch (err) {
      this.#reject(asLatchError(err))
      return
    }
    this.#rejected = undefined
    const d = diffPeers(this.#peers, next)
    if (d.added.length + d.removed.length + d.changed.length === 0) return
    this.#peers = next
    this.#opts.onChange(next)
  }
}

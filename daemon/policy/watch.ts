/**
 * Hot reload of the policy file for latchd. Watches the file's DIRECTORY (so editors that save by
 * writing a temp file and renaming it, and Kubernetes ConfigMap symlink swaps, are seen), debounces
 * bursts of events, and re-reads the file. A valid new policy replaces the running one; an invalid
 * or missing file is reported and the running policy stays. A slow poll backs up fs.watch, which can
 * miss events (network filesystems, the directory being replaced).
 */
import { type FSWatcher, watch } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { asLatchError, LatchError } from '../base/errors.js'
import { compilePolicyAsync } from './compile-async.js'
import type { CompiledPolicy } from './compiled.js'
import { diffPolicies } from './diff.js'
import { readPolicyText } from './load.js'
import type { PolicyDiff } from './types.js'

/**
 * Called with each newly loaded valid policy that differs from the running one, and also when the
 * file becomes valid again after an error even if its rules are unchanged (`diff` is then empty),
 * so the caller can clear the error it shows.
 */
export type OnPolicyChange = (next: CompiledPolicy, previous: CompiledPolicy, diff: PolicyDiff) => void
/** Called when the file became invalid, unreadable or missing; `current` keeps running. Once per distinct error. */
export type OnPolicyError = (error: LatchError, current: CompiledPolicy) => void

export interface WatchOptions {
  /** Quiet time after the last event before the file is re-read. Default 200 ms. */
  debounceMs?: number
  /** Re-check this often even without events; 0 turns polling off. Default 10 s. */
  pollMs?: number
}

export interface PolicyWatch {
  /** The running policy: the last valid one. */
  readonly current: CompiledPolicy
  /** Why the file on disk is not the running policy, or undefined when it is. */
  readonly error: LatchError | undefined
  /** Re-read the file now (e.g. on SIGHUP); resolves when done, callbacks included. */
  reload(): Promise<void>
  /** Stop watching; no callback runs after this returns. */
  close(): void
}

/**
 * Load `file` (throws its LatchError when it is missing or invalid: there is no last good policy
 * yet) and watch it.
 */
export async function watchPolicy(
  file: string,
  onChange: OnPolicyChange,
  onError: OnPolicyError,
  options: WatchOptions = {},
): Promise<PolicyWatch> {
  const text = await readPolicyText(file)
  const policy = await compilePolicyAsync(text, { file })
  return new Watcher(file, policy, text, onChange, onError, options)
}

class Watcher implements PolicyWatch {
  readonly #file: string
  readonly #dir: string
  readonly #onChange: OnPolicyChange
  readonly #onError: OnPolicyError
  readonly #debounceMs: number
  #debounce: NodeJS.Timeout | undefined
  readonly #poll: NodeJS.Timeout | undefined
  #fsWatcher: FSWatcher | undefined
  #current: CompiledPolicy
  #error: LatchError | undefined
  /** The text last looked at (valid or not), so unchanged files cost no recompile and no repeat report. */
  #lastText: string | undefined
  #running: Promise<void> | undefined
  #again = false
  #closed = false

  constructor(
    file: string,
    policy: CompiledPolicy,
    text: string,
    onChange: OnPolicyChange,
    onError: OnPolicyError,
    options: WatchOptions,
  ) {
    this.#file = file
    this.#dir = dirname(resolve(file))
    this.#current = policy
    this.#lastText = text
    this.#onChange = onChange
    this.#onError = onError
    this.#debounceMs = options.debounceMs ?? 200
    const pollMs = options.pollMs ?? 10_000
    this.#poll = pollMs > 0 ? setInterval(() => this.#tick(), pollMs).unref() : undefined
    this.#startWatching()
  }

  get current(): CompiledPolicy {
    return this.#current
  }

  get error(): LatchError | undefined {
    return this.#error
  }

  reload(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (this.#running !== undefined) {
      this.#again = true
      return this.#running
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false
          await this.#check()
        } while (this.#again && !this.#closed)
      } finally {
        this.#running = undefined
      }
    })()
    return this.#running
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#debounce)
    this.#debounce = undefined
    if (this.#poll !== undefined) clearInterval(this.#poll)
    this.#fsWatcher?.close()
    this.#fsWatcher = undefined
  }

  /** (Re)start the quiet period after an event; the reload runs when it ends. */
  #schedule(): void {
    if (this.#closed) return
    if (this.#debounce !== undefined) {
      this.#debounce.refresh()
      return
    }
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined
      void this.reload()
    }, this.#debounceMs)
  }

  #startWatching(): void {
    try {
      const w = watch(this.#dir, { persistent: false }, () => this.#schedule())
      w.on('error', (err) => {
        // e.g. the directory was removed; the poll re-establishes the watch when it is back
        w.close()
        if (this.#fsWatcher === w) this.#fsWatcher = undefined
        this.#report(
          new LatchError(
            'LATCH_ERR_POLICY_UNREADABLE',
            `stopped watching ${this.#dir}: ${err.message}; retrying`,
            {
              cause: err,
              details: { file: this.#file },
            },
          ),
        )
        this.#schedule()
      })
      this.#fsWatcher = w
    } catch {
      // the directory does not exist (right now); the poll retries and reports the missing file
      this.#fsWatcher = undefined
    }
  }

  #tick(): void {
    if (this.#fsWatcher === undefined && !this.#closed) this.#startWatching()
    void this.reload()
  }

  async #check(): Promise<void> {
    let text: string
    try {
      text = await readPolicyText(this.#file)
    } catch (err) {
      this.#lastText = undefined
      this.#fail(asLatchError(err))
      return
    }
    if (this.#closed || text === this.#lastText) return
    this.#lastText = text
    let next: CompiledPolicy
    try {
      // a big text compiles off the event loop (compile-async.ts); checks run one at a time
      next = await compilePolicyAsync(text, { file: this.#file })
    } catch (err) {
      this.#fail(asLatchError(err))
      return
    }
    if (this.#closed) return
    const previous = this.#current
    const hadError = this.#error !== undefined
    this.#current = next
    this.#error = undefined
    if (next.digest === previous.digest && !hadError) return
    try {
      this.#onChange(next, previous, diffPolicies(previous, next))
    } catch (err) {
      this.#report(asLatchError(err))
    }
  }

  #fail(err: LatchError): void {
    if (this.#closed) return
    if (this.#error !== undefined && this.#error.code === err.code && this.#error.message === err.message)
      return
    this.#error = err
    this.#report(err)
  }

  #report(err: LatchError): void {
    if (this.#closed) return
    try {
      this.#onError(err, this.#current)
    } catch {
      // the caller's error handler failed; nothing sensible is left to tell
    }
  }
}

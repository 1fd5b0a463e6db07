import type { Logger } from 'pino'
import { asLatchError, LatchError } from '../base/errors.js'

/**
 * Runs one reconcile function for many change notifications:
 * - `poke()` marks the desired state changed; one run follows after `delayMs` however many pokes
 *   arrive in between (many upsertPeer calls → one `wg` process);
 * - runs never overlap; `flush()` runs now (or joins a run that has not started yet) and returns
 *   its result;
 * - a failed background run is retried with exponential backoff (1 s … 30 s) until one succeeds.
 *
 * The engine uses one per reconciled subsystem (WireGuard now; the eBPF datapath beside it later).
 */
export class Coalescer<R> {
  private timer: NodeJS.Timeout | undefined
  private due = Number.POSITIVE_INFINITY
  private queued: Promise<R> | undefined
  private chain: Promise<unknown> = Promise.resolve()
  private failures = 0
  private stopped = false

  constructor(
    private readonly name: string,
    private readonly run: () => Promise<R>,
    private readonly delayMs: number,
    private readonly logger: Logger,
  ) {}

  poke(): void {
    if (this.stopped) return
    this.arm(this.delayMs)
  }

  flush(): Promise<R> {
    if (this.stopped)
      return Promise.reject(new LatchError('LATCH_ERR_ENGINE_STOPPED', `${this.name} reconcile after stop()`))
    this.disarm()
    if (this.queued !== undefined) return this.queued
    const p = this.chain.then(() => {
      this.queued = undefined
      return this.runOnce()
    })
    this.queued = p
    this.chain = p.catch(() => undefined)
    return p
  }

  /** Stop timers and wait for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true
    this.disarm()
    await this.chain
  }

  private async runOnce(): Promise<R> {
    try {
      const r = await this.run()
      this.failures = 0
      return r
    } catch (err) {
      this.failures++
      const delay = Math.min(30_000, 1000 * 2 ** (this.failures - 1))
      const e = asLatchError(err)
      this.logger.error({ code: e.code, err: e.message, retryInMs: delay }, `${this.name} reconcile failed`)
      if (!this.stopped) this.arm(delay)
      throw e
    }
  }

  /** Run after `delay` ms, unless a run is already due sooner. */
  private arm(delay: number): void {
    const at = Date.now() + delay
    if (this.timer !== undefined && this.due <= at) return
    this.disarm()
    this.due = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.due = Number.POSITIVE_INFINITY
      // errors are logged and retried in runOnce
      this.flush().catch(() => undefined)
    }, delay)
    this.timer.unref()
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.due = Number.POSITIVE_INFINITY
  }
}

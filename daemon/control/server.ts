/**
 * The control socket server: a unix socket, mode 0600 (its directory created 0755 if missing),
 * newline-delimited JSON requests answered in order by `handle`. A stale socket file left by a
 * crashed daemon is replaced; a live one (another daemon answers) is never stolen; a path that is
 * not a socket is never deleted.
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { FdBudget, type GuardEvents, GuardedListener, LIMIT_DEFAULTS } from '../base/conn-guard.js'
import { asLatchError, LatchError } from '../base/errors.js'
import { scaled } from '../base/time-scale.js'
import { type ControlRequest, type ControlResponse, MAX_LINE_BYTES } from '../wire/control.js'
import type { MonitorEvent } from '../wire/monitor.js'
import { parseRequestLine } from './request.js'

export type ControlHandler = (req: ControlRequest) => Promise<ControlResponse>

/**
 * The one streaming command (`monitor`): subscribe `send` to live events and return the
 * unsubscribe function; the server calls it when the client goes away.
 */
export type MonitorHandler = (send: (event: MonitorEvent) => void) => () => void

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

async function clearStale(path: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>
  try {
    st = await lstat(path)
  } catch {
    return // nothing there
  }
  if (!st.isSocket()) {
    throw new LatchError(
      'LATCH_ERR_DAEMON_LISTEN_FAILED',
      `control socket path ${path} exists and is not a socket`,
      {
        details: { path },
      },
    )
  }
  if (await isLive(path)) {
    throw new LatchError('LATCH_ERR_CONTROL_IN_USE', `another process already serves ${path}`, {
      details: { path },
    })
  }
  await unlink(path)
}

export interface ControlGuard {
  maxConnections: number
  /** A client that has not sent a complete request line by then is closed. */
  handshakeTimeoutMs: number
  events?: GuardEvents
}

/** How long close() lets requests already being handled finish (a `workload add` waits for its pairs). */
export const CONTROL_CLOSE_GRACE_MS = 5000

export class ControlServer {
  readonly path: string
  readonly #handle: ControlHandler
  readonly #listener: GuardedListener
  readonly #sockets = new Set<Socket>()
  /** Per connection, the request chain still running (absent: idle). */
  readonly #inFlight = new Map<Socket, Promise<void>>()
  readonly #monitor: MonitorHandler | undefined
  #closing = false

  /**
   * The control socket's connections are local (0600, root) and never count against the budget
   * of unauthenticated network connections: the budget's reserve is what keeps them possible.
   */
  constructor(path: string, handle: ControlHandler, monitor?: MonitorHandler, guard?: ControlGuard) {
    this.path = path
    this.#handle = handle
    this.#monitor = monitor
    this.#listener = new GuardedListener({
      name: 'control',
      // a budget of its own: local clients never compete with the network's unauthenticated ones
      budget: new FdBudget(guard?.maxConnections ?? LIMIT_DEFAULTS.control.maxConnections, 0, undefined),
      limits: {
        maxConnections: guard?.maxConnections ?? LIMIT_DEFAULTS.control.maxConnections,
        maxPerSource: Number.MAX_SAFE_INTEGER,
        handshakeTimeoutMs: guard?.handshakeTimeoutMs ?? LIMIT_DEFAULTS.handshakeTimeoutMs,
        maxPreAuthBytes: MAX_LINE_BYTES + 1,
      },
      ...(guard?.events && { events: guard.events }),
      serve: (socket) => this.#serve(socket),
    })
  }

  async listen(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o755 })
    await clearStale(this.path)
    // create the socket with no group/other access from the start, then make it exactly 0600
    const oldMask = process.umask(0o177)
    try {
      await this.#listener.listen(this.path)
    } catch (err) {
      throw new LatchError(
        'LATCH_ERR_DAEMON_LISTEN_FAILED',
        `cannot listen on ${this.path}: ${(err as Error).message}`,
        {
          cause: err,
          details: { path: this.path },
        },
      )
    } finally {
      process.umask(oldMask)
    }
    await chmod(this.path, 0o600)
  }

  /**
   * Graceful: stop accepting; idle connections and monitors end now; requests already being
   * handled get their answer (for up to `graceMs`), after which their connection ends; a request
   * line arriving meanwhile is answered LATCH_ERR_CONTROL_UNAVAILABLE (latchd is stopping) rather
   * than cut off. Whatever is still open after the grace is destroyed.
   */
  async close(graceMs = scaled(CONTROL_CLOSE_GRACE_MS)): Promise<void> {
    this.#closing = true
    const stopped = this.#listener.close(false)
    for (const s of this.#sockets) if (!this.#inFlight.has(s)) s.end()
    const pending = [...this.#inFlight.values()]
    if (pending.length > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled(pending),
        new Promise((resolve) => {
          timer = setTimeout(resolve, graceMs)
        }),
      ])
      clearTimeout(timer)
    }
    for (const s of this.#sockets) s.destroy()
    await stopped
    await unlink(this.path).catch(() => undefined)
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket)
    socket.once('close', () => {
      this.#sockets.delete(socket)
      this.#inFlight.delete(socket)
    })
    socket.on('error', () => socket.destroy())
    let buffered = ''
    let chain = Promise.resolve()
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      if (Buffer.byteLength(buffered) > MAX_LINE_BYTES && !buffered.includes('\n')) {
        socket.end(`${JSON.stringify(failure('LATCH_ERR_CONTROL_PROTOCOL', 'request line too long'))}\n`)
        return
      }
      let nl = buffered.indexOf('\n')
      while (nl !== -1) {
        const line = buffered.slice(0, nl).trim()
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
        if (line === '') continue
        this.#listener.authenticated(socket)
        const closing = this.#closing
        chain = chain.then(async () => {
          const res = closing
            ? failure('LATCH_ERR_CONTROL_UNAVAILABLE', 'latchd is stopping; retry when it is back')
            : await this.#answer(line, socket)
          if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`)
        })
        const mine = chain
        this.#inFlight.set(socket, mine)
        void mine.then(() => {
          if (this.#inFlight.get(socket) !== mine) return
          this.#inFlight.delete(socket)
          // answered while closing: nothing more will be served on it
          if (this.#closing) socket.end()
        })
      }
    })
  }

  async #answer(line: string, socket: Socket): Promise<ControlResponse> {
    const req = parseRequestLine(line)
    if (!req.ok) return req.response
    if (req.request.cmd === 'monitor') return this.#startMonitor(socket)
    try {
      return await this.#handle(req.request)
    } catch (err) {
      const e = asLatchError(err)
      return failure(e.code, e.message)
    }
  }

  #startMonitor(socket: Socket): ControlResponse {
    if (!this.#monitor) {
      return failure('LATCH_ERR_DATAPATH_DISABLED', 'this latchd runs without the eBPF datapath: no events')
    }
    const stop = this.#monitor((event) => {
      // a client that does not read is dropped rather than buffered without bound
      if (socket.writableLength > 1024 * MAX_LINE_BYTES) socket.destroy()
      else if (!socket.destroyed) socket.write(`${JSON.stringify({ ok: true, event })}\n`)
    })
    socket.once('close', stop)
    return { ok: true, monitor: true }
  }
}

function failure(code: string, message: string): ControlResponse {
  return { ok: false, error: { code, message } }
}

/**
 * Bounded listeners: the one admission mechanism of every latchd listener (node handshake 7443,
 * pair auth 7444, metrics, control socket). A GuardedListener owns the listening net.Server and
 * hands each admitted socket to the real server (`tlsServer.emit('connection', s)`, the documented
 * way to feed a tls/http server), so TLS never starts on a connection the guard refused.
 *
 * A connection is *unauthenticated* from accept until its protocol calls `authenticated()` (a node
 * session, a pair verdict, a control request, an HTTP request). While it is:
 *  - it is closed at its deadline (`handshakeTimeoutMs` after accept), whatever TLS is doing;
 *  - it is closed when it has read more than `maxPreAuthBytes` (the raw TCP bytes, TLS included);
 *  - it is the first to go: when a listener is at `maxConnections`, a source at `maxPerSource`, or
 *    the process at its unauthenticated budget, the *oldest unauthenticated* connection (of that
 *    listener, that source, the process) is shed to admit the new one; with none to shed the new
 *    one is refused.
 * The process-wide budget (FdBudget) lets unauthenticated connections of all listeners together
 * hold at most `min(maxUnauthenticated, open-file limit − reservedFds)` descriptors, so
 * authenticated peers, their re-handshakes, the control socket, `wg` and file operations always
 * find a descriptor. Accept errors (EMFILE, ENFILE) are reported, never thrown.
 *
 * Deadlines and byte caps are checked by one coarse sweep per budget (SWEEP_MS), not a timer per
 * connection. The same sweep ends a period of pressure: once nothing was shed or refused for
 * CALM_MS, the budget's `onCalm` hears how many were (latchd then reclaims the memory the attack
 * left as garbage, base/reclaim.ts). Imports nothing of latch.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'

export interface ListenerLimits {
  /** Open connections of this listener, authenticated or not. */
  maxConnections: number
  /** Open connections from one source address (unix sockets: not applied). */
  maxPerSource: number
  /** An unauthenticated connection is closed this long after accept. */
  handshakeTimeoutMs: number
  /** An unauthenticated connection is closed once it has read more raw bytes than this. */
  maxPreAuthBytes: number
}

export type ShedReason = 'deadline' | 'pre_auth_bytes' | 'listener_full' | 'source_full' | 'fd_budget'

export interface GuardEvents {
  /** A connection was closed or refused by the guard (refused = the new one, nothing to shed). */
  shed?: (listener: string, reason: ShedReason, refused: boolean) => void
  /** accept() failed (EMFILE, ENFILE, ENOBUFS…): the listener keeps running. */
  acceptError?: (listener: string, err: NodeJS.ErrnoException) => void
}

/**
 * The defaults of every listener and of the budget (the config's `limits:` block, README "Limits" under latchd).
 * A peer node dials one connection (two during a make-before-break re-handshake); pair
 * authentication runs up to 64 handshakes at once from one peer's tunnel address.
 */
export const LIMIT_DEFAULTS = Object.freeze({
  handshakeTimeoutMs: 10_000,
  /** A hello is one frame of at most 1 MiB; TLS with certificates is a few KiB. */
  maxPreAuthBytes: 1 << 20,
  reservedFds: 512,
  maxUnauthenticated: 1024,
  node: Object.freeze({ maxConnections: 1024, maxPerSource: 16 }),
  pairAuth: Object.freeze({ maxConnections: 1024, maxPerSource: 128 }),
  metrics: Object.freeze({ maxConnections: 32, maxPerSource: 8 }),
  control: Object.freeze({ maxConnections: 64 }),
})

/** How often deadlines and byte caps are checked. */
export const SWEEP_MS = 250
/** Nothing shed or refused for this long ends a period of pressure (FdBudget.onCalm). */
export const CALM_MS = 2000

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), or undefined. */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8')
    } catch {
      return undefined
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text)
  if (!m) return undefined
  return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1])
}

interface Entry {
  socket: Socket
  listener: GuardedListener
  source: string
  key: string
  acceptedAt: number
  authenticated: boolean
}

/**
 * The descriptor budget of the process, shared by all its listeners. Unauthenticated connections
 * are kept in accept order here (a Map iterates in insertion order), so the oldest is the first.
 */
export class FdBudget {
  readonly unauthenticatedCap: number
  readonly #unauth = new Map<Socket, Entry>()
  readonly #listeners = new Set<GuardedListener>()
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  #shedUncalmed = 0
  #lastShedAt = 0
  #onCalm: ((shed: number) => void) | undefined

  /**
   * @param maxUnauthenticated configured cap of unauthenticated connections (all listeners)
   * @param reservedFds descriptors never given to unauthenticated connections
   * @param fdLimit the process's open-file limit (default: read from /proc/self/limits)
   */
  constructor(maxUnauthenticated: number, reservedFds: number, fdLimit = openFileLimit(), now = Date.now) {
    const byFds = fdLimit === undefined ? maxUnauthenticated : Math.max(1, fdLimit - reservedFds)
    this.unauthenticatedCap = Math.max(1, Math.min(maxUnauthenticated, byFds))
    this.#now = now
  }

  get unauthenticated(): number {
    return this.#unauth.size
  }

  /** Called once per period of pressure, CALM_MS after its last shed, with how many were shed or refused. */
  onCalm(f: (shed: number) => void): void {
    this.#onCalm = f
  }

  /** Check deadlines, byte caps and the end of pressure now (the sweep does this every SWEEP_MS). */
  sweep(): void {
    const now = this.#now()
    for (const e of [...this.#unauth.values()]) {
      const l = e.listener.limits
      if (now - e.acceptedAt >= l.handshakeTimeoutMs) e.listener.shed(e, 'deadline', false)
      else if (e.socket.bytesRead > l.maxPreAuthBytes) e.listener.shed(e, 'pre_auth_bytes', false)
    }
    if (this.#shedUncalmed > 0 && now - this.#lastShedAt >= CALM_MS) {
      const n = this.#shedUncalmed
      this.#shedUncalmed = 0
      this.#onCalm?.(n)
    }
  }

  /** @internal A connection was shed or refused. */
  noteShed(): void {
    this.#shedUncalmed++
    this.#lastShedAt = this.#now()
  }

  /** @internal */
  register(l: GuardedListener): void {
    this.#listeners.add(l)
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), SWEEP_MS)
      this.#timer.unref()
    }
  }

  /** @internal */
  unregister(l: GuardedListener): void {
    this.#listeners.delete(l)
    if (this.#listeners.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }

  /** @internal */
  track(e: Entry): void {
    this.#unauth.set(e.socket, e)
  }

  /** @internal */
  untrack(e: Entry): void {
    this.#unauth.delete(e.socket)
  }

  /** @internal The oldest unauthenticated connection matching `match`. */
  oldest(match: (e: Entry) => boolean): Entry | undefined {
    for (const e of this.#unauth.values()) if (match(e)) return e
    return undefined
  }
}

export interface GuardedListenerOptions {
  name: string
  limits: ListenerLimits
  budget: FdBudget
  /** Serve an admitted socket (e.g. `(s) => tlsServer.emit('connection', s)`). */
  serve: (socket: Socket) => void
  /**
   * Serve it only once its first bytes arrived (they are put back for the server: node:tls reads
   * what a socket buffered when it wraps it). A connection that never speaks then costs a descriptor
   * and a net.Socket, not a TLS session: idle floods stay cheap for the peers being served.
   */
  serveOnFirstData?: boolean
  events?: GuardEvents
  now?: () => number
}

export interface ListenerCounts {
  open: number
  unauthenticated: number
}

/** One listening socket with admission control. */
export class GuardedListener {
  readonly name: string
  readonly limits: ListenerLimits
  readonly #budget: FdBudget
  readonly #server: Server
  readonly #open = new Map<Socket, Entry>()
  readonly #byKey = new Map<string, Entry>()
  readonly #perSource = new Map<string, number>()
  readonly #o: GuardedListenerOptions
  readonly #now: () => number

  constructor(o: GuardedListenerOptions) {
    this.name = o.name
    this.limits = o.limits
    this.#budget = o.budget
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#server = createServer({ pauseOnConnect: false }, (s) => this.#admit(s))
    // accept() failing (EMFILE…) must never become an unhandled 'error': the server keeps listening
    this.#server.on('error', (err: NodeJS.ErrnoException) => this.#o.events?.acceptError?.(this.name, err))
  }

  /** Listen on a TCP address and port, or on a unix socket path (port undefined). */
  listen(where: string, port?: number): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err)
      this.#server.once('error', onError)
      const done = () => {
        this.#server.off('error', onError)
        this.#budget.register(this)
        const a = this.#server.address()
        resolve(
          typeof a === 'object' && a ? { address: a.address, port: a.port } : { address: where, port: 0 },
        )
      }
      if (port === undefined) this.#server.listen(where, done)
      else this.#server.listen(port, where, done)
    })
  }

  /** The listening socket's file descriptor once listening (for socket options such as SO_BINDTODEVICE). */
  get fd(): number | undefined {
    const fd = (this.#server as unknown as { _handle?: { fd?: number } })._handle?.fd
    return typeof fd === 'number' && fd >= 0 ? fd : undefined
  }

  /** The connection (the accepted socket, or a TLS socket over it) proved itself: no deadline, no byte cap. */
  authenticated(socket: Socket): void {
    const e = this.#open.get(socket) ?? this.#byKey.get(keyOf(socket))
    if (e === undefined || e.authenticated) return
    e.authenticated = true
    this.#budget.untrack(e)
  }

  counts(): ListenerCounts {
    let unauthenticated = 0
    for (const e of this.#open.values()) if (!e.authenticated) unauthenticated++
    return { open: this.#open.size, unauthenticated }
  }

  /** Stop accepting; with `dropConnections`, also destroy every open connection. */
  close(dropConnections = false): Promise<void> {
    this.#budget.unregister(this)
    if (dropConnections) for (const s of [...this.#open.keys()]) s.destroy()
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  /** @internal Close `e` for `reason`. */
  shed(e: Entry, reason: ShedReason, refused: boolean): void {
    this.#forget(e)
    e.socket.destroy()
    this.#budget.noteShed()
    this.#o.events?.shed?.(this.name, reason, refused)
  }

  #admit(socket: Socket): void {
    socket.on('error', () => socket.destroy())
    const source = socket.remoteAddress ?? ''
    const l = this.limits
    const make = (reason: ShedReason, match: (x: Entry) => boolean): boolean => {
      const victim = this.#budget.oldest(match)
      if (victim === undefined) {
        socket.destroy()
        this.#budget.noteShed()
        this.#o.events?.shed?.(this.name, reason, true)
        return false
      }
      victim.listener.shed(victim, reason, false)
      return true
    }
    if (this.#open.size >= l.maxConnections && !make('listener_full', (x) => x.listener === this)) return
    if (
      source !== '' &&
      (this.#perSource.get(source) ?? 0) >= l.maxPerSource &&
      !make('source_full', (x) => x.listener === this && x.source === source)
    )
      return
    if (this.#budget.unauthenticated >= this.#budget.unauthenticatedCap && !make('fd_budget', () => true))
      return
    const e: Entry = {
      socket,
      listener: this,
      source,
      key: keyOf(socket),
      acceptedAt: this.#now(),
      authenticated: false,
    }
    this.#open.set(socket, e)
    if (e.key !== '') this.#byKey.set(e.key, e)
    if (source !== '') this.#perSource.set(source, (this.#perSource.get(source) ?? 0) + 1)
    this.#budget.track(e)
    socket.once('close', () => this.#forget(e))
    if (!this.#o.serveOnFirstData) {
      this.#o.serve(socket)
      return
    }
    socket.once('data', (first: Buffer) => {
      socket.pause()
      socket.unshift(first)
      if (!socket.destroyed) this.#o.serve(socket)
    })
  }

  #forget(e: Entry): void {
    if (!this.#open.delete(e.socket)) return
    if (e.key !== '') this.#byKey.delete(e.key)
    this.#budget.untrack(e)
    if (e.source === '') return
    const n = (this.#perSource.get(e.source) ?? 1) - 1
    if (n <= 0) this.#perSource.delete(e.source)
    else this.#perSource.set(e.source, n)
  }
}

function keyOf(s: Socket): string {
  return s.remoteAddress === undefined ? '' : `${s.remoteAddress}|${s.remotePort}`
}

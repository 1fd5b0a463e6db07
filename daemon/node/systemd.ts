/**
 * The systemd notification protocol (sd_notify(3)) for latchd under a `Type=notify` unit
 * (packaging/debian/latchd.service): READY=1 once start-up has finished (WireGuard up, datapath
 * loaded, policy compiled, listeners bound), RELOADING=1 … READY=1 around a SIGHUP reload,
 * STOPPING=1 on a stop, and WATCHDOG=1 every WATCHDOG_USEC/2 while the event loop runs. Without
 * $NOTIFY_SOCKET (not started by systemd) every call is a no-op. The datagram goes out through the
 * native addon (native/src/notify.cc): Node has no AF_UNIX datagram sockets.
 */
import { LatchError } from '../base/errors.js'
import { call, native } from '../datapath/native.js'

export type NotifySend = (socket: string, message: string) => void

export interface SystemdNotifier {
  /** Whether latchd runs under a notify unit ($NOTIFY_SOCKET is set). */
  readonly enabled: boolean
  /** The watchdog period systemd asked for (WATCHDOG_USEC, when WATCHDOG_PID is unset or ours), in ms. */
  readonly watchdogMs: number | undefined
  ready(status: string): void
  reloading(status: string): void
  stopping(status: string): void
  /**
   * Send WATCHDOG=1 at half the period until the returned function is called (no-op without a
   * watchdog). A ping comes from the event loop's timer, so a blocked or wedged loop misses it and
   * systemd restarts latchd (WatchdogSec, Restart=on-failure). A failed send goes to `onError`.
   */
  startWatchdog(onError: (err: unknown) => void): () => void
}

const nativeSend: NotifySend = (socket, message) =>
  call(() => native().unixDatagramSend(socket, message), `sd_notify to ${socket}`)

/** CLOCK_MONOTONIC in µs (Node's hrtime is that clock on Linux), for RELOADING=1's MONOTONIC_USEC. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n
}

/** One-line STATUS= text: no newlines (each line of a notification is one assignment). */
function statusLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').slice(0, 200)
}

export function systemdNotifier(
  env: NodeJS.ProcessEnv = process.env,
  send: NotifySend = nativeSend,
  pid: number = process.pid,
): SystemdNotifier {
  const socket = env['NOTIFY_SOCKET'] || undefined
  const usec = Number(env['WATCHDOG_USEC'])
  const watchdogPid = env['WATCHDOG_PID'] ? Number(env['WATCHDOG_PID']) : pid
  const watchdogMs =
    socket && Number.isFinite(usec) && usec > 0 && watchdogPid === pid ? usec / 1000 : undefined
  const notify = (lines: string[]) => {
    if (!socket) return
    try {
      send(socket, `${lines.join('\n')}\n`)
    } catch (err) {
      throw err instanceof LatchError
        ? new LatchError('LATCH_ERR_SYSTEMD_NOTIFY', err.message, { cause: err })
        : err
    }
  }
  return {
    enabled: socket !== undefined,
    watchdogMs,
    ready: (status) => notify(['READY=1', `STATUS=${statusLine(status)}`, `MAINPID=${pid}`]),
    reloading: (status) =>
      notify(['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`, `STATUS=${statusLine(status)}`]),
    stopping: (status) => notify(['STOPPING=1', `STATUS=${statusLine(status)}`]),
    startWatchdog(onError) {
      if (watchdogMs === undefined) return () => undefined
      const ping = () => {
        try {
          notify(['WATCHDOG=1'])
        } catch (err) {
          onError(err)
        }
      }
      ping()
      const timer = setInterval(ping, Math.max(1, Math.floor(watchdogMs / 2)))
      return () => clearInterval(timer)
    },
  }
}

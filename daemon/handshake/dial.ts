/**
 * Opening a TLS connection to another daemon, for the node handshake and for pair authentication:
 * connect with the given options, give up after `timeoutMs`, and say why it failed in the terms both
 * protocols report (unreachable, timeout, tls_failed). Resolves, never rejects.
 */
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls'

export type DialFailureReason = 'tls_failed' | 'timeout' | 'unreachable'

export type DialResult =
  | { ok: true; socket: TLSSocket }
  | { ok: false; reason: DialFailureReason; message: string }

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EPIPE',
])

export interface DialLimits {
  timeoutMs: number
  /** names the target in messages, e.g. "10.99.0.12:7443" */
  where: string
  /** disable Nagle (protocols of a few small frames each way) */
  noDelay?: boolean
}

/** On success the socket has no error listener of ours left: the caller owns it. */
export function dialTls(options: ConnectionOptions, limits: DialLimits): Promise<DialResult> {
  const { timeoutMs, where } = limits
  return new Promise<DialResult>((resolve) => {
    let done = false
    const socket = connect(options)
    if (limits.noDelay) socket.setNoDelay(true)
    const fail = (reason: DialFailureReason, message: string) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ ok: false, reason, message })
    }
    const timer = setTimeout(
      () => fail('timeout', `no TLS connection to ${where} after ${timeoutMs} ms`),
      timeoutMs,
    )
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const unreachable = err.code !== undefined && UNREACHABLE.has(err.code)
      fail(unreachable ? 'unreachable' : 'tls_failed', `${where}: ${err.message}`)
    })
    socket.once('secureConnect', () => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve({ ok: true, socket })
    })
  })
}

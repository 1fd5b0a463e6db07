import { createConnection } from 'node:net'
import { join } from 'node:path'
import { LatchError } from '../base/errors.js'
import { scaled } from '../base/time-scale.js'

/**
 * The I/O half of wireguard-go's UAPI (wg-uapi.ts has the text): one UNIX-socket connection per
 * request to `<dir>/<if>.sock`, the request written, the answer read up to its closing empty line.
 * Bounded: an answer above UAPI_MAX_ANSWER_BYTES or slower than the timeout ends the connection
 * with an error (a wedged wireguard-go must not hang the reconcile loop).
 */

/** Where wireguard-go and `wg` keep the sockets (compiled into both; not configurable there). */
export const UAPI_SOCKET_DIR = '/var/run/wireguard'
/** 100k peers answer ~40 MiB. */
export const UAPI_MAX_ANSWER_BYTES = 128 << 20
const UAPI_TIMEOUT_MS = 30_000

export function uapiSocketPath(iface: string, dir = UAPI_SOCKET_DIR): string {
  return join(dir, `${iface}.sock`)
}

export function uapiRequest(
  path: string,
  request: string,
  timeoutMs = scaled(UAPI_TIMEOUT_MS),
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const socket = createConnection({ path })
    const done = (err: Error | undefined, answer?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err) reject(err)
      else resolve(answer ?? '')
    }
    const fail = (what: string, code?: string): void =>
      done(
        new LatchError('LATCH_ERR_WG_COMMAND_FAILED', `wireguard-go's UAPI socket ${path}: ${what}`, {
          details: { socket: path, ...(code !== undefined && { code }) },
        }),
      )
    const timer = setTimeout(() => fail(`no complete answer within ${timeoutMs} ms`), timeoutMs)
    socket.on('connect', () => socket.end(request))
    socket.on('data', (c: Buffer) => {
      size += c.length
      if (size > UAPI_MAX_ANSWER_BYTES) return fail(`answer larger than ${UAPI_MAX_ANSWER_BYTES} bytes`)
      chunks.push(c)
      if (endsAnswer(chunks)) done(undefined, Buffer.concat(chunks).toString('utf8'))
    })
    socket.on('end', () => {
      if (endsAnswer(chunks)) done(undefined, Buffer.concat(chunks).toString('utf8'))
      else fail('closed before a complete answer')
    })
    socket.on('error', (err: NodeJS.ErrnoException) => fail(err.message, err.code))
  })
}

/** An answer is complete at its first empty line, which only its end has ("…errno=N\n\n"). */
function endsAnswer(chunks: readonly Buffer[]): boolean {
  const last = chunks[chunks.length - 1]
  if (last === undefined) return false
  if (last.length >= 2) return last[last.length - 1] === 0x0a && last[last.length - 2] === 0x0a
  const prev = chunks[chunks.length - 2]
  return last[0] === 0x0a && prev !== undefined && prev[prev.length - 1] === 0x0a
}

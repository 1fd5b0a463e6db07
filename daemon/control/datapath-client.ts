/** latchctl's side of the datapath commands: auth requests, and the `monitor` event stream. */
import { connect } from 'node:net'
import { LatchError } from '../base/errors.js'
import { type ControlRequest, MAX_LINE_BYTES } from '../wire/control.js'
import type { MonitorEvent } from '../wire/monitor.js'
import type { AuthEntryReport } from '../wire/status.js'
import { controlRequest } from './client.js'

function remoteError(what: string, error: { code: string; message: string }): LatchError {
  // the daemon's own registry codes come back as they are (exit codes and fixes included)
  return new LatchError(error.code as 'LATCH_ERR_CONTROL_PROTOCOL', `${what}: ${error.message}`, {
    details: { remote: error },
  })
}

export async function authRequest(
  path: string,
  req: Extract<ControlRequest, { cmd: 'auth_add' | 'auth_del' | 'auth_list' }>,
  timeoutMs?: number,
): Promise<AuthEntryReport[]> {
  const res = await controlRequest(path, req, timeoutMs)
  if (!res.ok) throw remoteError(`latchd refused ${req.cmd}`, res.error)
  if ('auth' in res) return res.auth
  throw new LatchError('LATCH_ERR_CONTROL_PROTOCOL', `latchd answered ${req.cmd} with something else`)
}

/**
 * Streams datapath events until `signal` aborts (Ctrl-C) or latchd goes away. Resolves when the
 * stream ends; rejects when latchd refuses (e.g. datapath disabled) or cannot be reached.
 */
export function monitorEvents(
  path: string,
  onEvent: (e: MonitorEvent) => void,
  signal?: AbortSignal,
  onReady?: () => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    let buffered = ''
    let acked = false
    const stop = () => s.end()
    signal?.addEventListener('abort', stop, { once: true })
    s.setEncoding('utf8')
    s.once('connect', () => s.write(`${JSON.stringify({ cmd: 'monitor' })}\n`))
    s.on('data', (chunk: string) => {
      buffered += chunk
      if (buffered.length > 4 * MAX_LINE_BYTES && !buffered.includes('\n')) {
        s.destroy(new LatchError('LATCH_ERR_CONTROL_PROTOCOL', `an event line from ${path} is too long`))
        return
      }
      let nl = buffered.indexOf('\n')
      while (nl !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
        let msg: {
          ok?: boolean
          monitor?: boolean
          event?: MonitorEvent
          error?: { code: string; message: string }
        }
        try {
          msg = JSON.parse(line)
        } catch (err) {
          s.destroy(
            new LatchError('LATCH_ERR_CONTROL_PROTOCOL', `latchd sent a line that is not JSON`, {
              cause: err,
            }),
          )
          return
        }
        if (msg.ok === false && msg.error) {
          s.destroy(remoteError('latchd refused monitor', msg.error))
          return
        }
        if (!acked && msg.monitor) {
          acked = true
          onReady?.()
        } else if (msg.event) onEvent(msg.event)
      }
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', stop)
      if (err instanceof LatchError) return reject(err)
      reject(
        new LatchError('LATCH_ERR_CONTROL_UNAVAILABLE', `control socket ${path}: ${err.message}`, {
          cause: err,
          details: { path },
        }),
      )
    })
    s.once('close', (hadError) => {
      signal?.removeEventListener('abort', stop)
      if (!hadError) resolve()
    })
  })
}

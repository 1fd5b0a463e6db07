/**
 * The control socket client (latchctl's side): one request, one answer, with typed errors for
 * "no daemon there", "not allowed" and "it answered something else".
 */
import { connect } from 'node:net'
import { LatchError } from '../base/errors.js'
import type { ControlRequest, ControlResponse } from '../wire/control.js'
import { MAX_LINE_BYTES } from '../wire/control.js'
import type { StatusReport } from '../wire/status.js'

export async function controlRequest(
  path: string,
  req: ControlRequest,
  timeoutMs = 5000,
): Promise<ControlResponse> {
  const line = await new Promise<string>((resolve, reject) => {
    const s = connect(path)
    let buffered = ''
    const timer = setTimeout(() => {
      s.destroy()
      reject(
        new LatchError(
          'LATCH_ERR_CONTROL_UNAVAILABLE',
          `latchd at ${path} did not answer within ${timeoutMs} ms`,
          { details: { path } },
        ),
      )
    }, timeoutMs)
    s.setEncoding('utf8')
    s.once('connect', () => s.write(`${JSON.stringify(req)}\n`))
    s.on('data', (chunk: string) => {
      buffered += chunk
      const nl = buffered.indexOf('\n')
      if (nl !== -1) {
        clearTimeout(timer)
        s.end()
        resolve(buffered.slice(0, nl))
      } else if (buffered.length > 64 * MAX_LINE_BYTES) {
        clearTimeout(timer)
        s.destroy()
        reject(new LatchError('LATCH_ERR_CONTROL_PROTOCOL', `the answer from ${path} is too long`))
      }
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        reject(
          new LatchError('LATCH_ERR_CONTROL_PERMISSION', `not allowed to connect to ${path}`, {
            cause: err,
            details: { path },
          }),
        )
      } else {
        const why =
          err.code === 'ENOENT'
            ? 'does not exist'
            : err.code === 'ECONNREFUSED'
              ? 'has no daemon behind it'
              : err.message
        reject(
          new LatchError('LATCH_ERR_CONTROL_UNAVAILABLE', `control socket ${path} ${why}`, {
            cause: err,
            details: { path },
          }),
        )
      }
    })
    s.once('end', () => {
      if (!buffered.includes('\n')) {
        clearTimeout(timer)
        reject(
          new LatchError(
            'LATCH_ERR_CONTROL_PROTOCOL',
            `latchd at ${path} closed the connection without an answer`,
          ),
        )
      }
    })
  })
  try {
    return JSON.parse(line) as ControlResponse
  } catch (err) {
    throw new LatchError(
      'LATCH_ERR_CONTROL_PROTOCOL',
      `latchd at ${path} answered something that is not JSON`,
      { cause: err },
    )
  }
}

/** `status`, unwrapped: the daemon's own errors come back as LatchErrors. */
export async function fetchStatus(path: string, timeoutMs?: number): Promise<StatusReport> {
  const res = await controlRequest(path, { cmd: 'status' }, timeoutMs)
  if (res.ok && 'status' in res) return res.status
  if (!res.ok) {
    throw new LatchError(
      'LATCH_ERR_CONTROL_PROTOCOL',
      `latchd refused the status request: ${res.error.code}: ${res.error.message}`,
      {
        details: { remote: res.error },
      },
    )
  }
  throw new LatchError('LATCH_ERR_CONTROL_PROTOCOL', 'latchd answered status with something else')
}

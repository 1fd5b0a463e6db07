/**
 * Fuzz target: the control protocol as latchd's socket reads it — lines, each parsed by
 * parseRequestLine() (the server's own function). Every line gets a request or an error answer
 * that serialises; any exception is a crash.
 */
import { parseRequestLine } from '../../../daemon/control/request.js'

export function fuzz(data: Buffer): void {
  for (const raw of data.toString('utf8').split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    const r = parseRequestLine(line)
    if (!r.ok && (r.response.ok || JSON.stringify(r.response).length === 0)) {
      throw new Error('a refused request without an error answer')
    }
  }
}

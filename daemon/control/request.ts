/**
 * One request line of the control protocol (wire/control.ts) to a request, or to the error answer
 * the client gets. Pure: the server (server.ts) and the fuzz target (test/fuzz/targets/control.ts)
 * share it.
 */
import { type ControlRequest, type ControlResponse, requestSchema } from '../wire/control.js'

export type ParsedRequest = { ok: true; request: ControlRequest } | { ok: false; response: ControlResponse }

export function parseRequestLine(line: string): ParsedRequest {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return refused('the request is not JSON; send {"cmd":"status"}')
  }
  const req = requestSchema.safeParse(json)
  if (!req.success) {
    return refused(
      `unknown request ${line.slice(0, 200)}; commands: status, ping, auth_add, auth_del, auth_list, monitor, workload_add, workload_remove, workload_list`,
    )
  }
  return { ok: true, request: req.data }
}

function refused(message: string): ParsedRequest {
  return { ok: false, response: { ok: false, error: { code: 'LATCH_ERR_CONTROL_PROTOCOL', message } } }
}

/**
 * The local control protocol of latchd, on a unix socket (mode 0600, default DEFAULT_CONTROL_SOCKET
 * of socket.ts, /run/latch/latchd.sock).
 * Plain on purpose, like wireguard-go's UAPI: one JSON object per line each way.
 *
 *   request:   {"cmd":"status"}\n
 *   response:  {"ok":true,"status":{…StatusReport…}}\n
 *   error:     {"ok":false,"error":{"code":"LATCH_ERR_…","message":"…"}}\n
 *
 * Commands: `status` (the StatusReport of status.ts), `ping` (→ {"ok":true,"pong":true}), and the
 * datapath's auth_add / auth_del / auth_list / monitor (datapath-control.ts), and runtime workload
 * registration: workload_add / workload_remove / workload_list (workload.ts).
 * A connection may carry several requests; answers come in order. Lines above 64 KiB end it.
 * Try it by hand: `echo '{"cmd":"status"}' | socat - UNIX-CONNECT:/run/latch/latchd.sock`.
 */
import { z } from 'zod'
import { type DatapathResponse, datapathRequestSchemas } from './datapath-control.js'
import type { StatusReport } from './status.js'
import { type WorkloadResponse, workloadRequestSchemas } from './workload.js'

/** A request or response line longer than this ends the connection. */
export const MAX_LINE_BYTES = 64 * 1024

/** Every request latchd accepts; anything else is answered with an error. */
export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('status') }).strict(),
  z.object({ cmd: z.literal('ping') }).strict(),
  ...datapathRequestSchemas,
  ...workloadRequestSchemas,
])
export type ControlRequest = z.infer<typeof requestSchema>

/** Why a request failed. */
export interface ControlError {
  /** A code of the error registry (LATCH_ERR_…; daemon/base/errors.ts). */
  code: string
  /** What is wrong and what to do. */
  message: string
}

/** One response line. */
export type ControlResponse =
  | { ok: true; status: StatusReport }
  | { ok: true; pong: true }
  | DatapathResponse
  | WorkloadResponse
  | { ok: false; error: ControlError }

/**
 * Control-socket commands of the datapath (beside status/ping in control.ts):
 *
 *   {"cmd":"auth_add","src":"spiffe://…","dst":"spiffe://…","ttlMs":3600000,"both":true}
 *      → {"ok":true,"auth":[{src,dst,expiresAt}]}        (the entries written)
 *   {"cmd":"auth_del","src":"spiffe://…","dst":"spiffe://…","both":false}
 *      → {"ok":true,"auth":[…]}                           (the entries that remain)
 *   {"cmd":"auth_list"}  → {"ok":true,"auth":[{src,dst,expiresAt,expired}]}
 *   {"cmd":"monitor"}    → {"ok":true,"monitor":true} then one {"event":{…MonitorEvent…}} per line
 *                          until the client closes the connection (the only streaming command).
 */
import { z } from 'zod'
import type { MonitorEvent } from './monitor.js'
import type { AuthEntryReport } from './status.js'

/** Longest TTL `debug auth add` accepts: entries are a debugging aid, not a policy. */
export const MAX_DEBUG_TTL_MS = 7 * 86_400_000

const spiffe = z.string().startsWith('spiffe://').max(2048)

/** The datapath's requests: `src`/`dst` are SPIFFE IDs, `ttlMs` milliseconds, `both` also (dst, src). */
export const datapathRequestSchemas = [
  z
    .object({
      cmd: z.literal('auth_add'),
      src: spiffe,
      dst: spiffe,
      ttlMs: z.number().int().min(1).max(MAX_DEBUG_TTL_MS),
      both: z.boolean().default(false),
    })
    .strict(),
  z
    .object({ cmd: z.literal('auth_del'), src: spiffe, dst: spiffe, both: z.boolean().default(false) })
    .strict(),
  z.object({ cmd: z.literal('auth_list') }).strict(),
  z.object({ cmd: z.literal('monitor') }).strict(),
] as const

/** The datapath's response lines (`event` only after `monitor`). */
export type DatapathResponse =
  | { ok: true; auth: AuthEntryReport[] }
  | { ok: true; monitor: true }
  | { ok: true; event: MonitorEvent }

/** latchd's answers to the datapath's control commands (auth_add / auth_del / auth_list). */

import { LatchError } from '../base/errors.js'
import { parseSpiffeId } from '../base/spiffe-id.js'
import type { NodeDatapath } from '../engine/datapath.js'
import type { ControlRequest, ControlResponse } from '../wire/control.js'
import type { AuthEntryReport } from '../wire/status.js'

type DatapathRequest = Extract<ControlRequest, { cmd: 'auth_add' | 'auth_del' | 'auth_list' }>

function checkId(id: string, what: string): string {
  try {
    return parseSpiffeId(id, { requirePath: true }).toString()
  } catch (err) {
    throw new LatchError(
      'LATCH_ERR_DATAPATH_BAD_REQUEST',
      `${what} ${JSON.stringify(id)} is not a workload SPIFFE ID: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

async function listing(dp: NodeDatapath, now: Date): Promise<AuthEntryReport[]> {
  return (await dp.listAuth()).map((e) => ({
    src: e.src,
    dst: e.dst,
    expiresAt: e.expiresAt.toISOString(),
    expired: e.expiresAt.getTime() <= now.getTime(),
  }))
}

export function isDatapathRequest(req: ControlRequest): req is DatapathRequest {
  return req.cmd === 'auth_add' || req.cmd === 'auth_del' || req.cmd === 'auth_list'
}

export async function handleDatapathRequest(
  dp: NodeDatapath | undefined,
  req: DatapathRequest,
  now = new Date(),
): Promise<ControlResponse> {
  if (!dp)
    throw new LatchError('LATCH_ERR_DATAPATH_DISABLED', 'this latchd runs with datapath.enabled: false')
  if (req.cmd === 'auth_list') return { ok: true, auth: await listing(dp, now) }
  const src = checkId(req.src, 'source')
  const dst = checkId(req.dst, 'destination')
  const pairs: Array<[string, string]> = [[src, dst]]
  if (req.both && src !== dst) pairs.push([dst, src])
  if (req.cmd === 'auth_del') {
    for (const [s, d] of pairs) await dp.revoke(s, d)
    return { ok: true, auth: await listing(dp, now) }
  }
  const expiresAt = new Date(now.getTime() + req.ttlMs)
  for (const [s, d] of pairs) await dp.authorize(s, d, expiresAt)
  return { ok: true, auth: pairs.map(([s, d]) => ({ src: s, dst: d, expiresAt: expiresAt.toISOString() })) }
}

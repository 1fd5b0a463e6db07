/** The client side of runtime workload registration (latchctl workload, latch-cni). */
import { LatchError } from '../base/errors.js'
import type { WorkloadAddRequest, WorkloadRemoveRequest, WorkloadReport } from '../wire/workload.js'
import { controlRequest } from './client.js'

function remoteError(what: string, error: { code: string; message: string }): LatchError {
  // the daemon's own registry codes come back as they are (exit codes and fixes included)
  return new LatchError(error.code as 'LATCH_ERR_CONTROL_PROTOCOL', `${what}: ${error.message}`, {
    details: { remote: error },
  })
}

function unexpected(cmd: string): LatchError {
  return new LatchError('LATCH_ERR_CONTROL_PROTOCOL', `latchd answered ${cmd} with something else`)
}

/** Register a workload; with waitMs, answers once its allowed pairs are authenticated (or later). */
export async function addWorkload(
  path: string,
  req: Omit<WorkloadAddRequest, 'cmd'>,
): Promise<WorkloadReport> {
  const res = await controlRequest(path, { cmd: 'workload_add', ...req }, (req.waitMs ?? 0) + 10_000)
  if (!res.ok) throw remoteError('latchd refused the workload', res.error)
  if ('workload' in res && res.workload !== undefined && !('removed' in res)) return res.workload
  throw unexpected('workload_add')
}

export async function removeWorkload(
  path: string,
  req: Omit<WorkloadRemoveRequest, 'cmd'>,
): Promise<{ removed: boolean; workload?: WorkloadReport }> {
  const res = await controlRequest(path, { cmd: 'workload_remove', ...req }, 10_000)
  if (!res.ok) throw remoteError('latchd refused to remove the workload', res.error)
  if ('removed' in res) return res
  throw unexpected('workload_remove')
}

export async function listWorkloads(path: string): Promise<WorkloadReport[]> {
  const res = await controlRequest(path, { cmd: 'workload_list' }, 10_000)
  if (!res.ok) throw remoteError('latchd refused to list workloads', res.error)
  if ('workloads' in res) return res.workloads
  throw unexpected('workload_list')
}

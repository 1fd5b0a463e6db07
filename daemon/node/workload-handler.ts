/** latchd's answers to workload_add / workload_remove / workload_list (control/workload-protocol.ts). */
import type { ControlResponse } from '../wire/control.js'
import type { WorkloadRequest } from '../wire/workload.js'
import type { WorkloadRegistry } from './workload-registry.js'

export async function handleWorkloadRequest(
  registry: WorkloadRegistry,
  req: WorkloadRequest,
): Promise<ControlResponse> {
  switch (req.cmd) {
    case 'workload_add':
      return { ok: true, workload: await registry.add(req) }
    case 'workload_remove':
      return { ok: true, ...(await registry.remove(req)) }
    case 'workload_list':
      return { ok: true, workloads: registry.list() }
  }
}

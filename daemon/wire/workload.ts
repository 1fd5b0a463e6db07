/**
 * Runtime workload registration on the control socket (DESIGN §8b): what `latchctl workload` and
 * latch-cni send, and what latchd answers. One JSON object per line, like every control request.
 *
 *   {"cmd":"workload_add","id":"spiffe://td/ns/a/sa/b","ips":["10.100.1.20"],"interface":"veth1a2b",
 *    "waitMs":10000}
 *     → {"ok":true,"workload":{…WorkloadReport…}}   (after its allowed pairs are authenticated, or
 *       waitMs passed: then `ready` is false and `pairs.pending` names what is missing)
 *   {"cmd":"workload_remove","id":"spiffe://…"}  or  {"cmd":"workload_remove","owner":"cni:ID:eth0"}
 *     → {"ok":true,"removed":true|false,"workload"?:{…}}  (removing what is not there is not an error)
 *   {"cmd":"workload_list"} → {"ok":true,"workloads":[…]}
 *
 * Where a workload lives: `interface`, its host-side interface in latchd's network namespace, or
 * `netns` (a network namespace path, e.g. /run/netns/x or /proc/PID/ns/net) + `netnsInterface`
 * (its interface inside), from which latchd finds the host-side peer of the veth.
 */
import { z } from 'zod'

/** The longest a request may ask latchd to wait for the workload's pairs (ms). */
export const MAX_WAIT_MS = 120_000

const short = z.string().min(1).max(2048)
const ifname = z
  .string()
  .regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'an interface name is 1-15 characters of letters, digits, "_.:@-"')

export const workloadRequestSchemas = [
  z
    .object({
      cmd: z.literal('workload_add'),
      /** The workload's SPIFFE ID, in this node's trust domain. */
      id: short,
      /** Its addresses; each must lie in this node's workloadCidrs and belong to no other workload. */
      ips: z.array(short).min(1).max(64),
      interface: ifname.optional(),
      netns: short.optional(),
      netnsInterface: ifname.optional(),
      /** Who registered it (e.g. `cni:<containerId>:<ifname>`), so a DEL can find it without the ID. */
      owner: z.string().min(1).max(512).optional(),
      /** Answer once its allowed pairs are authenticated, or after this many ms (default 0: at once). */
      waitMs: z.number().int().min(0).max(MAX_WAIT_MS).optional(),
    })
    .strict(),
  z
    .object({
      cmd: z.literal('workload_remove'),
      id: short.optional(),
      owner: z.string().min(1).max(512).optional(),
    })
    .strict(),
  z.object({ cmd: z.literal('workload_list') }).strict(),
] as const

export type WorkloadAddRequest = z.infer<(typeof workloadRequestSchemas)[0]>
export type WorkloadRemoveRequest = z.infer<(typeof workloadRequestSchemas)[1]>
export type WorkloadRequest = z.infer<(typeof workloadRequestSchemas)[number]>

/** The pairs policy allows for a workload with the workloads its peers host now. */
export interface WorkloadPairs {
  planned: number
  authenticated: number
  /** `REMOTE@NODE` of every planned pair not authenticated yet. */
  pending: string[]
}

export interface WorkloadReport {
  id: string
  ips: string[]
  /** config: a `workloads:` entry of latchd.yaml; registered: the control socket (kept across restarts). */
  source: 'config' | 'registered'
  interface?: string
  ifindex?: number
  netns?: string
  netnsInterface?: string
  owner?: string
  registeredAt?: string
  /** Whether the datapath's programs are on its interface (absent without the datapath). */
  attached?: boolean
  /** The SVID latchd presents for it (absent without pair authentication). */
  svid?: { notAfter: string; renewAt?: string }
  /** Absent without pair authentication. */
  pairs?: WorkloadPairs
  /** Every planned pair is authenticated (true without pair authentication). */
  ready: boolean
  problem?: string
}

export type WorkloadResponse =
  | { ok: true; workload: WorkloadReport }
  | { ok: true; removed: boolean; workload?: WorkloadReport }
  | { ok: true; workloads: WorkloadReport[] }

export function isWorkloadRequest(req: { cmd: string }): req is WorkloadRequest {
  return req.cmd === 'workload_add' || req.cmd === 'workload_remove' || req.cmd === 'workload_list'
}

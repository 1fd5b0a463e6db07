/**
 * Runs a datapath plan: at most one delete batch and one write batch per map, in the order that
 * keeps the datapath closed while it changes — policy deletes first (a removed rule stops its flows,
 * established ones included, at their next packet), then auth deletes (a revoked pair stops before
 * anything else moves), then ipcache and endpoint deletes; writes go endpoints, ipcache, policy,
 * auth last (an auth entry only opens once the addresses it relies on resolve to the right
 * identities and the rules it serves are in place). The whole plan is one `batchWrites` scope: tracked
 * flows' kept verdicts are made stale once, after the last write (or after a write that threw).
 */
import type { DatapathMaps } from './datapath-maps.js'
import type { DatapathPlan } from './datapath-plan.js'

export function applyDatapathPlan(maps: DatapathMaps, p: DatapathPlan): void {
  maps.batchWrites(() => {
    if (p.policy.delete.length > 0) maps.policy.delete(p.policy.delete)
    if (p.auth.delete.length > 0) maps.auth.delete(p.auth.delete)
    if (p.ipcache.delete.length > 0) maps.ipcache.delete(p.ipcache.delete)
    if (p.endpoints.delete.length > 0) maps.endpoints.deleteMany(p.endpoints.delete)
    if (p.endpoints.write.length > 0) maps.endpoints.setMany(p.endpoints.write)
    if (p.ipcache.write.length > 0) maps.ipcache.upsert(p.ipcache.write)
    if (p.policy.write.length > 0) maps.policy.set(p.policy.write)
    if (p.auth.write.length > 0) maps.auth.set(p.auth.write)
  })
}

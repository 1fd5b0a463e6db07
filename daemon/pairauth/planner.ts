/**
 * Which identity pairs to authenticate proactively, and who dials. Pure.
 *
 * A planned pair is (local workload X on this node, remote workload Y on node B) with
 * policy.pairAllowed(X, Y). The same SPIFFE ID may run on several nodes (replicas), so a pair is keyed
 * by X, Y and B. Exactly one of the two daemons initiates, decided the same way on both sides: the
 * daemon whose workload has the lexicographically smaller SPIFFE ID; for equal IDs (X talking to its
 * own replica) the one whose node name is smaller. The other side only dials when the initiator has
 * not (see reauth.ts), so two daemons do not both dial in the normal case.
 */
import type { PairPolicy } from './types.js'

export interface WorkloadRef {
  id: string
  ips: readonly string[]
}

export interface PlannerPolicy extends PairPolicy {
  /** Every unordered allowed pair once (CompiledPolicy.allowedPairs()). */
  allowedPairs(): readonly { a: string; b: string }[]
}

export interface PlanInput {
  localNode: string
  policy: PlannerPolicy
  /** This node's workloads. */
  local: readonly WorkloadRef[]
  /** Each peer node's inventory, from its node session. */
  remote: ReadonlyMap<string, readonly WorkloadRef[]>
}

export interface PlannedPair {
  /** `${local}\n${remote}\n${node}`: unique per pair and node. */
  readonly key: string
  readonly local: string
  readonly remote: string
  readonly node: string
  /** Whether this daemon dials (the other side only as a fallback). */
  readonly initiator: boolean
}

export function pairKey(local: string, remote: string, node: string): string {
  return `${local}\n${remote}\n${node}`
}

/** The deterministic tie-break: true when the daemon on `localNode` initiates for (local, remote). */
export function initiates(localNode: string, local: string, remoteNode: string, remote: string): boolean {
  if (local !== remote) return local < remote
  return localNode < remoteNode
}

/**
 * The pairs to keep authenticated, sorted by key. Cost O(allowed pairs + workloads + output): no
 * local × remote cross product.
 */
export function desiredPairs(input: PlanInput): PlannedPair[] {
  const localIds = new Set(input.local.map((w) => w.id))
  // remote id → nodes hosting it
  const where = new Map<string, string[]>()
  for (const [node, workloads] of input.remote) {
    if (node === input.localNode) continue
    for (const w of workloads) {
      const nodes = where.get(w.id)
      if (nodes === undefined) where.set(w.id, [node])
      else if (!nodes.includes(node)) nodes.push(node)
    }
  }
  const out = new Map<string, PlannedPair>()
  const add = (local: string, remote: string) => {
    if (!localIds.has(local)) return
    for (const node of where.get(remote) ?? []) {
      const key = pairKey(local, remote, node)
      if (out.has(key)) continue
      out.set(
        key,
        Object.freeze({
          key,
          local,
          remote,
          node,
          initiator: initiates(input.localNode, local, node, remote),
        }),
      )
    }
  }
  for (const { a, b } of input.policy.allowedPairs()) {
    add(a, b)
    if (a !== b) add(b, a)
  }
  return [...out.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
}

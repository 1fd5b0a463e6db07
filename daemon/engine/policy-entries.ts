/**
 * A compiled policy + the node's identity ids -> the eBPF policy map's entries (the datapath's
 * desired policy state). Pure: no I/O, no allocation of ids — a rule whose identities have no id yet
 * is left out (nothing in the maps can name them, so nothing could match it) and reported, and the
 * caller recomputes when ids appear.
 *
 * One entry per rule: (from id, to id) -> any (a rule without ports:) or its port specs merged per
 * protocol into at most LATCH_POLICY_MAX_RANGES (protocol, low, high) ranges; a protocol without
 * ports (icmp, icmpv6) or a bare `tcp` is the range 0-65535. `from: node` is LATCH_ID_NODE.
 */
import { LatchIdentity, LatchLimits, type PolicyEntry, type PortRange } from '../datapath/index.js'

export type { PolicyEntry }

import { LatchError } from '../base/errors.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import { type PortSpec, PROTOCOLS } from '../policy/ports.js'
import { NODE_SOURCE, type PolicyRule } from '../policy/types.js'

export interface PolicyEntriesResult {
  /** sorted by (srcId, dstId) */
  readonly entries: readonly PolicyEntry[]
  /** rules left out because an identity has no id on this node yet */
  readonly unresolved: readonly PolicyRule[]
}

/** Port specs -> sorted, merged ranges (adjacent and overlapping ranges of a protocol join). */
export function portRanges(specs: readonly PortSpec[]): PortRange[] {
  const sorted = specs
    .map((s) => ({ proto: PROTOCOLS[s.protocol], low: s.low, high: s.high }))
    .sort((a, b) => a.proto - b.proto || a.low - b.low || a.high - b.high)
  const out: PortRange[] = []
  for (const r of sorted) {
    const last = out.at(-1)
    if (last !== undefined && last.proto === r.proto && r.low <= last.high + 1) {
      last.high = Math.max(last.high, r.high)
    } else {
      out.push({ ...r })
    }
  }
  return out
}

export function policyEntries(
  policy: CompiledPolicy,
  idOf: (spiffeId: string) => number | undefined,
): PolicyEntriesResult {
  const entries: PolicyEntry[] = []
  const unresolved: PolicyRule[] = []
  for (const rule of policy.rules) {
    const e = policyEntryOf(rule, idOf, policy.file)
    if (e === undefined) unresolved.push(rule)
    else entries.push(e)
  }
  entries.sort(compareEntries)
  return { entries, unresolved }
}

/** One rule's entry, or undefined while an identity it names has no id. */
export function policyEntryOf(
  rule: PolicyRule,
  idOf: (spiffeId: string) => number | undefined,
  file: string,
): PolicyEntry | undefined {
  const srcId = rule.from === NODE_SOURCE ? LatchIdentity.LATCH_ID_NODE : idOf(rule.from)
  const dstId = idOf(rule.to)
  if (srcId === undefined || dstId === undefined) return undefined
  if (rule.ports === undefined) return { srcId, dstId, any: true, ranges: [] }
  const ranges = portRanges(rule.ports)
  const max = LatchLimits.LATCH_POLICY_MAX_RANGES
  if (ranges.length > max) {
    // validate.ts refuses such a file; reaching this is a bug, not bad input
    throw new LatchError(
      'LATCH_ERR_INTERNAL_BUG',
      `${file}:${rule.pos.line}: ${rule.from} → ${rule.to} has ${ranges.length} port ranges, the datapath holds ${max}`,
    )
  }
  return { srcId, dstId, any: false, ranges }
}

/** The policy map's key order: (srcId, dstId). */
export function compareEntries(
  a: { srcId: number; dstId: number },
  b: { srcId: number; dstId: number },
): number {
  return a.srcId - b.srcId || a.dstId - b.dstId
}

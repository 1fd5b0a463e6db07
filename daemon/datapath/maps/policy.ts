/**
 * policy: (source identity, destination identity) -> the L4 set the source may open flows to the
 * destination on: every protocol (`any`), or up to LATCH_POLICY_MAX_RANGES (protocol, destination
 * port range) entries. Protocols without ports (ICMP, …) are a range 0-65535. Entries come from
 * daemon/datapath/policy-entries.ts (pure); this view only encodes, writes and reads them.
 */
import { LatchError } from '../../base/errors.js'
import {
  decodeLatchPolicyKey,
  decodeLatchPolicyValue,
  encodeLatchPolicyKey,
  encodeLatchPolicyValue,
  LatchLimits,
  LatchPolicyFlags,
  LatchPolicyKeyLayout,
  LatchPolicyValueLayout,
} from '../abi/generated.js'
import { call, type NativeBpfMap } from '../native.js'
import { checkGeometry, checkId, type OnMapWrite } from './common.js'

export interface PortRange {
  /** IP protocol number (6 tcp, 17 udp, 132 sctp, 1 icmp, 58 icmpv6, …) */
  proto: number
  /** inclusive destination port range; 0-65535 for the whole protocol */
  low: number
  high: number
}

export interface PolicyEntry {
  srcId: number
  dstId: number
  /** every protocol and port (a rule without ports:); `ranges` is then empty */
  any: boolean
  ranges: readonly PortRange[]
}

export interface PolicyPair {
  srcId: number
  dstId: number
}

const u = (n: number, max: number) => Number.isInteger(n) && n >= 0 && n <= max

function checkEntry(e: PolicyEntry): void {
  const where = `policy entry ${e.srcId}->${e.dstId}`
  const max = LatchLimits.LATCH_POLICY_MAX_RANGES
  if (e.any && e.ranges.length > 0) {
    throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', `${where}: "any" takes no ranges`)
  }
  if (!e.any && (e.ranges.length === 0 || e.ranges.length > max)) {
    throw new LatchError(
      'LATCH_ERR_BPF_BAD_ARGUMENT',
      `${where} needs 1..${max} protocol/port ranges (or any), got ${e.ranges.length}`,
    )
  }
  for (const r of e.ranges) {
    if (!u(r.proto, 255) || !u(r.low, 65535) || !u(r.high, 65535) || r.low > r.high) {
      throw new LatchError(
        'LATCH_ERR_BPF_BAD_ARGUMENT',
        `${where}: bad range proto ${r.proto} ports ${r.low}-${r.high}`,
      )
    }
  }
}

export class PolicyMap {
  constructor(
    private readonly map: NativeBpfMap,
    /** runs after every write (the Datapath bumps the verdict generation) */
    private readonly onWrite: OnMapWrite = () => undefined,
  ) {
    checkGeometry(map, 'policy', LatchPolicyKeyLayout.size, LatchPolicyValueLayout.size)
  }
  private wrote<T>(result: T): T {
    this.onWrite()
    return result
  }

  private static key(p: PolicyPair, buf?: Buffer, off?: number): Buffer {
    checkId(p.srcId, 'srcId')
    checkId(p.dstId, 'dstId')
    return encodeLatchPolicyKey({ srcId: p.srcId, dstId: p.dstId }, buf, off)
  }

  /** Inserts or replaces entries: one syscall for any number of them. */
  set(entries: readonly PolicyEntry[]): number {
    if (entries.length === 0) return 0
    const ks = LatchPolicyKeyLayout.size
    const vs = LatchPolicyValueLayout.size
    const keys = Buffer.alloc(entries.length * ks)
    const values = Buffer.alloc(entries.length * vs)
    entries.forEach((e, i) => {
      checkEntry(e)
      PolicyMap.key(e, keys, i * ks)
      encodeLatchPolicyValue(
        {
          flags: e.any ? LatchPolicyFlags.LATCH_POLICY_F_ANY : 0,
          nRanges: e.ranges.length,
          ranges: Array.from({ length: LatchLimits.LATCH_POLICY_MAX_RANGES }, (_, j) => {
            const r = e.ranges[j]
            return r ? { low: r.low, high: r.high, proto: r.proto } : { low: 0, high: 0, proto: 0 }
          }),
        },
        values,
        i * vs,
      )
    })
    return this.wrote(call(() => this.map.updateBatch(keys, values, entries.length), 'policy set'))
  }

  /** Removes pairs' rules; returns how many existed. */
  delete(pairs: readonly PolicyPair[]): number {
    if (pairs.length === 0) return 0
    const ks = LatchPolicyKeyLayout.size
    const keys = Buffer.alloc(pairs.length * ks)
    for (const [i, p] of pairs.entries()) PolicyMap.key(p, keys, i * ks)
    return this.wrote(call(() => this.map.deleteMany(keys, pairs.length), 'policy delete'))
  }

  list(): PolicyEntry[] {
    const d = call(() => this.map.dump(), 'policy dump')
    const ks = LatchPolicyKeyLayout.size
    const vs = LatchPolicyValueLayout.size
    const out: PolicyEntry[] = []
    for (let i = 0; i < d.count; i++) {
      const k = decodeLatchPolicyKey(d.keys, i * ks)
      const v = decodeLatchPolicyValue(d.values, i * vs)
      const any = (v.flags & LatchPolicyFlags.LATCH_POLICY_F_ANY) !== 0
      const n = Math.min(v.nRanges, v.ranges.length)
      const ranges = any
        ? []
        : v.ranges.slice(0, n).map((r) => ({ proto: r.proto, low: r.low, high: r.high }))
      out.push({ srcId: k.srcId, dstId: k.dstId, any, ranges })
    }
    return out.sort((a, b) => a.srcId - b.srcId || a.dstId - b.dstId)
  }
}

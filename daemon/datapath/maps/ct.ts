/**
 * ct: the connection tracking table the programs keep (LRU). User space only reads it (status,
 * tests, diagnostics) and may flush it; the programs create, refresh and expire the entries.
 */
import {
  decodeLatchCtKey,
  decodeLatchCtValue,
  LatchCtFlags,
  LatchCtKeyLayout,
  LatchCtState,
  LatchCtValueLayout,
  LatchDirection,
} from '../abi/generated.js'
import { bytesToIp } from '../addr.js'
import { call, type NativeBpfMap } from '../native.js'
import { checkGeometry } from './common.js'

export type CtState = 'new' | 'established' | 'closing' | 'closed' | `state_${number}`

export interface CtEntry {
  src: string
  dst: string
  sport: number
  dport: number
  proto: number
  /** the program that saw the flow's first packet: at its source (from_workload) or destination */
  direction: 'from_workload' | 'to_workload'
  srcId: number
  dstId: number
  ifindex: number
  state: CtState
  finOrig: boolean
  finReply: boolean
  createdBootNs: bigint
  lastBootNs: bigint
}

const STATES: Record<number, CtState> = {
  [LatchCtState.LATCH_CT_NEW]: 'new',
  [LatchCtState.LATCH_CT_ESTABLISHED]: 'established',
  [LatchCtState.LATCH_CT_CLOSING]: 'closing',
  [LatchCtState.LATCH_CT_CLOSED]: 'closed',
}

export class CtMap {
  constructor(private readonly map: NativeBpfMap) {
    checkGeometry(map, 'ct', LatchCtKeyLayout.size, LatchCtValueLayout.size)
  }

  /** Every tracked flow (expired ones included until the programs or the LRU drop them). */
  list(): CtEntry[] {
    const d = call(() => this.map.dump(), 'ct dump')
    const ks = LatchCtKeyLayout.size
    const vs = LatchCtValueLayout.size
    const out: CtEntry[] = []
    for (let i = 0; i < d.count; i++) {
      const k = decodeLatchCtKey(d.keys, i * ks)
      const v = decodeLatchCtValue(d.values, i * vs)
      out.push({
        src: bytesToIp(k.src.addr),
        dst: bytesToIp(k.dst.addr),
        sport: k.sport,
        dport: k.dport,
        proto: k.proto,
        direction: k.direction === LatchDirection.LATCH_DIR_FROM_WORKLOAD ? 'from_workload' : 'to_workload',
        srcId: v.srcId,
        dstId: v.dstId,
        ifindex: v.ifindex,
        state: STATES[v.state] ?? `state_${v.state}`,
        finOrig: (v.flags & LatchCtFlags.LATCH_CT_F_FIN_ORIG) !== 0,
        finReply: (v.flags & LatchCtFlags.LATCH_CT_F_FIN_REPLY) !== 0,
        createdBootNs: v.createdNs,
        lastBootNs: v.lastNs,
      })
    }
    return out
  }

  /** Deletes every tracked flow (each is judged again as new at its next packet); returns how many. */
  flush(): number {
    const d = call(() => this.map.dump(), 'ct dump')
    return call(() => this.map.deleteMany(d.keys, d.count), 'ct flush')
  }
}

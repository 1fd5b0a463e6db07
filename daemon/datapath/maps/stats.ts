/** stats: per-CPU packet/byte counters by reason, summed for readers. */
import { LatchError } from '../../base/errors.js'
import { decodeLatchStat, LatchStatLayout } from '../abi/generated.js'
import { call, type NativeBpfMap } from '../native.js'
import { REASONS } from '../reasons.js'

export interface Counter {
  packets: bigint
  bytes: bigint
}

export class StatsMap {
  private readonly cpus: number
  private readonly slot: number

  constructor(private readonly map: NativeBpfMap) {
    const info = map.info()
    if (!info.perCpu || info.valueSize !== LatchStatLayout.size) {
      throw new LatchError(
        'LATCH_ERR_BPF_PIN_INCOMPATIBLE',
        'map stats is not a per-CPU array of struct latch_stat',
      )
    }
    this.slot = Math.ceil(LatchStatLayout.size / 8) * 8
    this.cpus = info.valueBufSize / this.slot
  }

  /** Counters summed over CPUs, by reason name ("allowed", "drop_no_auth", ...). */
  read(): Record<string, Counter> {
    const key = Buffer.alloc(4)
    const value = Buffer.alloc(this.cpus * this.slot)
    const out: Record<string, Counter> = {}
    for (const r of REASONS) {
      key.writeUInt32LE(r.code)
      const c: Counter = { packets: 0n, bytes: 0n }
      if (call(() => this.map.lookup(key, value), 'stats lookup')) {
        for (let cpu = 0; cpu < this.cpus; cpu++) {
          const s = decodeLatchStat(value, cpu * this.slot)
          c.packets += s.packets
          c.bytes += s.bytes
        }
      }
      out[r.name] = c
    }
    return out
  }
}

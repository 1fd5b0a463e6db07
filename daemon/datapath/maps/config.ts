/** config: the datapath's run-time settings (one array slot). */
import { LatchError } from '../../base/errors.js'
import { decodeLatchConfig, encodeLatchConfig } from '../abi/generated.js'
import { call, type NativeBpfMap } from '../native.js'

export interface DatapathSettings {
  /** minimum gap between two events for the same (src, dst, interface, reason); 0 = no limit */
  eventIntervalNs: bigint
}

export class ConfigMap {
  private readonly key = Buffer.alloc(4)

  constructor(private readonly map: NativeBpfMap) {}

  get(): DatapathSettings {
    const value = Buffer.alloc(8)
    call(() => this.map.lookup(this.key, value), 'config lookup')
    return { eventIntervalNs: decodeLatchConfig(value).eventIntervalNs }
  }

  set(s: DatapathSettings): void {
    if (s.eventIntervalNs < 0n)
      throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', 'eventIntervalNs must be >= 0')
    const value = encodeLatchConfig({ eventIntervalNs: s.eventIntervalNs })
    call(() => this.map.update(this.key, value), 'config update')
  }
}

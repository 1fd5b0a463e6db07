/**
 * config: the datapath's run-time settings (one array slot): the event rate limit and the connection
 * tracking idle timeouts. A timeout of 0 makes the programs use the LATCH_CT_DEFAULT_* value of
 * latch_abi.h; `set` writes only the fields it is given (read-modify-write of the one slot).
 */
import { LatchError } from '../../base/errors.js'
import {
  decodeLatchConfig,
  encodeLatchConfig,
  type LatchConfig,
  LatchConfigLayout,
  LatchCtDefaults,
} from '../abi/generated.js'
import { call, type NativeBpfMap } from '../native.js'

/** Connection tracking idle timeouts in ns (0 = the built-in default). */
export interface CtTimeouts {
  /** TCP: SYN seen, no reply yet */
  ctTcpSynNs: bigint
  ctTcpEstablishedNs: bigint
  /** TCP: FIN seen in one direction */
  ctTcpClosingNs: bigint
  /** TCP: FIN seen both ways, or RST */
  ctTcpClosedNs: bigint
  ctUdpNs: bigint
  /** ICMP/ICMPv6 echo */
  ctIcmpNs: bigint
  /** every other protocol */
  ctOtherNs: bigint
  /** how long the later fragments of a packet follow its first fragment */
  fragNs: bigint
}

export interface DatapathSettings extends CtTimeouts {
  /** minimum gap between two events for the same (src, dst, interface, reason); 0 = no limit */
  eventIntervalNs: bigint
}

const S = 1_000_000_000n
/** The timeouts the programs use for a 0 field, in ns (from the LATCH_CT_DEFAULT_* enum). */
export const DEFAULT_CT_TIMEOUTS: Readonly<CtTimeouts> = Object.freeze({
  ctTcpSynNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_TCP_SYN_S) * S,
  ctTcpEstablishedNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_TCP_ESTABLISHED_S) * S,
  ctTcpClosingNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_TCP_CLOSING_S) * S,
  ctTcpClosedNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_TCP_CLOSED_S) * S,
  ctUdpNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_UDP_S) * S,
  ctIcmpNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_ICMP_S) * S,
  ctOtherNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_OTHER_S) * S,
  fragNs: BigInt(LatchCtDefaults.LATCH_CT_DEFAULT_FRAG_S) * S,
})

export class ConfigMap {
  private readonly key = Buffer.alloc(4)

  constructor(private readonly map: NativeBpfMap) {
    const info = map.info()
    if (info.valueSize !== LatchConfigLayout.size) {
      throw new LatchError(
        'LATCH_ERR_BPF_PIN_INCOMPATIBLE',
        `map config has value size ${info.valueSize}, this latch expects ${LatchConfigLayout.size}`,
      )
    }
  }

  get(): DatapathSettings {
    const { verdictGen: _, ...settings } = this.#read()
    return settings
  }

  /** The verdict generation now (see bumpVerdictGen). */
  verdictGen(): bigint {
    return this.#read().verdictGen
  }

  #read(): LatchConfig {
    const value = Buffer.alloc(LatchConfigLayout.size)
    call(() => this.map.lookup(this.key, value), 'config lookup')
    return decodeLatchConfig(value)
  }

  /**
   * Makes every tracked flow's kept verdict stale (latch_abi.h, config.verdict_gen): its next
   * packet re-checks the rule and auth. Called after each write of the endpoints, ipcache, policy
   * and auth maps, or once after all writes of a Datapath.batchWrites scope. Never 0 (0 keeps no
   * verdict).
   */
  bumpVerdictGen(): bigint {
    const c = this.#read()
    const next = c.verdictGen >= 0xffff_ffff_ffff_fffen ? 1n : c.verdictGen + 1n
    call(() => this.map.update(this.key, encodeLatchConfig({ ...c, verdictGen: next })), 'config update')
    return next
  }

  /** Writes the given fields; the others keep their current value. */
  set(s: Partial<DatapathSettings>): void {
    const next: LatchConfig = this.#read()
    for (const [k, v] of Object.entries(s) as [keyof DatapathSettings, bigint | undefined][]) {
      if (v === undefined) continue
      if (!(k in next) || k === ('verdictGen' as string))
        throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', `unknown datapath setting ${k}`)
      if (typeof v !== 'bigint' || v < 0n) {
        throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', `${k} must be a bigint >= 0 (ns), got ${v}`)
      }
      next[k] = v
    }
    const value = encodeLatchConfig(next)
    call(() => this.map.update(this.key, value), 'config update')
  }
}

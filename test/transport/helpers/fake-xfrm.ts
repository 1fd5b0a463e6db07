import type { EspPolicy, EspSa, PolicyInfo, SaInfo } from '../../../daemon/transport/xfrm/codec.js'
import { REPLAY_WINDOW } from '../../../daemon/transport/xfrm/codec.js'
import type { XfrmPort } from '../../../daemon/transport/xfrm/port.js'

/**
 * An in-memory XFRM database for transcript tests: SAs by (dst, spi), policies by (dir, selector,
 * if_id), like the kernel keys them. Every change lands in `transcript` (SPIs in hex, no keys).
 */
export class FakeXfrm implements XfrmPort {
  readonly transcript: string[] = []
  readonly sas = new Map<string, EspSa>()
  readonly policies = new Map<string, EspPolicy>()

  async listSas(): Promise<SaInfo[]> {
    return [...this.sas.values()].map((s) => ({
      src: s.src,
      dst: s.dst,
      spi: s.spi,
      reqid: s.reqid,
      ifId: s.ifId,
      replayWindow: REPLAY_WINDOW,
      bytes: 0,
    }))
  }

  async addSa(sa: EspSa): Promise<void> {
    const k = `${sa.dst} ${sa.spi}`
    if (this.sas.has(k)) throw new Error(`EEXIST: SA ${k}`)
    this.transcript.push(
      `sa add ${sa.src} -> ${sa.dst} spi ${hex(sa.spi)} reqid ${sa.reqid} if_id ${sa.ifId}`,
    )
    this.sas.set(k, sa)
  }

  async delSa(sa: { src: string; dst: string; spi: number }): Promise<void> {
    this.transcript.push(`sa del ${sa.src} -> ${sa.dst} spi ${hex(sa.spi)}`)
    this.sas.delete(`${sa.dst} ${sa.spi}`)
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    return [...this.policies.values()].map((p) => ({
      dir: p.dir,
      sel: p.sel,
      ifId: p.ifId,
      priority: p.priority,
      tmplSrc: p.tmplSrc,
      tmplDst: p.tmplDst,
      reqid: p.reqid,
    }))
  }

  async putPolicy(p: EspPolicy): Promise<void> {
    this.transcript.push(`policy set ${p.dir} ${p.sel.src} -> ${p.sel.dst} tmpl ${p.tmplSrc} -> ${p.tmplDst}`)
    this.policies.set(`${p.dir} ${p.sel.src} ${p.sel.dst} ${p.ifId}`, p)
  }

  async delPolicy(p: { dir: EspPolicy['dir']; sel: EspPolicy['sel']; ifId: number }): Promise<void> {
    this.transcript.push(`policy del ${p.dir} ${p.sel.src} -> ${p.sel.dst}`)
    this.policies.delete(`${p.dir} ${p.sel.src} ${p.sel.dst} ${p.ifId}`)
  }

  close(): void {}

  /** The SPIs (hex) of the SAs towards `dst`. */
  spisTo(dst: string): string[] {
    return [...this.sas.values()]
      .filter((s) => s.dst === dst)
      .map((s) => hex(s.spi))
      .sort()
  }
}

export const hex = (spi: number): string => `0x${spi.toString(16).padStart(8, '0')}`

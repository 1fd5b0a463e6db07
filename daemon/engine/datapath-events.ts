/**
 * Ring-buffer events with names: the datapath's identity ids become SPIFFE IDs (ids never leave the
 * node), fanned out to auth-required listeners (pair authentication on demand) and to every monitor
 * (`latchctl monitor` through the control socket). One listener throwing never stops the others.
 */
import type { DatapathEvent } from '../datapath/index.js'
import type { MonitorEvent } from '../wire/monitor.js'
import type { AuthRequiredEvent } from './identity-datapath.js'

const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 }

function protoNumber(name: string): number {
  return PROTO_NUMBERS[name] ?? Number(name.replace(/^ip-proto-/, ''))
}

export class DatapathEvents {
  readonly #name: (id: number) => string | undefined
  readonly #auth = new Set<(e: AuthRequiredEvent) => void>()
  readonly #all = new Set<(e: MonitorEvent) => void>()

  constructor(nameOf: (id: number) => string | undefined) {
    this.#name = nameOf
  }

  onAuthRequired(listener: (e: AuthRequiredEvent) => void): () => void {
    this.#auth.add(listener)
    return () => this.#auth.delete(listener)
  }

  onEvent(listener: (e: MonitorEvent) => void): () => void {
    this.#all.add(listener)
    return () => this.#all.delete(listener)
  }

  deliver(events: readonly DatapathEvent[]): void {
    if (this.#auth.size === 0 && this.#all.size === 0) return
    for (const e of events) {
      const srcIdentity = e.srcId ? this.#name(e.srcId) : undefined
      const dstIdentity = e.dstId ? this.#name(e.dstId) : undefined
      if (e.type === 'auth_required') {
        const a: AuthRequiredEvent = {
          srcIp: e.src,
          dstIp: e.dst,
          proto: protoNumber(e.proto),
          ...(srcIdentity && { src: srcIdentity }),
          ...(dstIdentity && { dst: dstIdentity }),
          ...(e.proto !== 'icmp' && e.proto !== 'icmpv6' && { dport: e.dport }),
        }
        for (const l of this.#auth) safely(() => l(a))
      }
      if (this.#all.size === 0) continue
      const m: MonitorEvent = {
        type: e.type,
        reason: e.reason,
        at: e.at.toISOString(),
        ...(srcIdentity && { srcIdentity }),
        ...(dstIdentity && { dstIdentity }),
        src: e.src,
        dst: e.dst,
        proto: e.proto,
        sport: e.sport,
        dport: e.dport,
        len: e.len,
        direction: e.direction,
        ifindex: e.ifindex,
        ingressIfindex: e.ingressIfindex,
        suppressed: e.suppressed,
      }
      for (const l of this.#all) safely(() => l(m))
    }
  }
}

function safely(f: () => void): void {
  try {
    f()
  } catch {
    // a listener's failure is its own; the next listener still gets the event
  }
}

/**
 * Ring-buffer events with names: the datapath's identity ids become SPIFFE IDs (ids never leave the
 * node), fanned out to auth-required listeners (pair authentication on demand) and to every monitor
 * (`latchctl monitor` through the control socket). One listener throwing never stops the others.
 *
 * A packet forwarded to a workload from a source the ipcache does not know is dropped by the kernel
 * with an auth-required event (drop_unknown_source, no source id): a remote workload whose pair has
 * not authenticated yet looks like that. The kernel cannot tell the tunnel from other interfaces, so
 * here an event that arrived on the tunnel interface goes to the auth-required listeners marked
 * `viaTunnel` (they resolve the source from the peer inventories); any other is a plain drop.
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
  readonly #tunnel: () => number | undefined
  readonly #auth = new Set<(e: AuthRequiredEvent) => void>()
  readonly #all = new Set<(e: MonitorEvent) => void>()

  /** `tunnelIfindex`: the tunnel interface's ifindex now (undefined: none yet). */
  constructor(
    nameOf: (id: number) => string | undefined,
    tunnelIfindex: () => number | undefined = () => undefined,
  ) {
    this.#name = nameOf
    this.#tunnel = tunnelIfindex
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
      let type = e.type
      let viaTunnel = false
      if (type === 'auth_required' && e.reason === 'drop_unknown_source') {
        viaTunnel = e.ingressIfindex !== 0 && e.ingressIfindex === this.#tunnel()
        if (!viaTunnel) type = 'drop'
      }
      if (type === 'auth_required') {
        const a: AuthRequiredEvent = {
          srcIp: e.src,
          dstIp: e.dst,
          proto: protoNumber(e.proto),
          ...(srcIdentity && { src: srcIdentity }),
          ...(dstIdentity && { dst: dstIdentity }),
          ...(viaTunnel && { viaTunnel }),
          ...(e.proto !== 'icmp' && e.proto !== 'icmpv6' && { dport: e.dport }),
        }
        for (const l of this.#auth) safely(() => l(a))
      }
      if (this.#all.size === 0) continue
      const m: MonitorEvent = {
        type,
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

/**
 * The datapath events latchd streams to `latchctl monitor` (after `{"cmd":"monitor"}` on the control
 * socket), and their one-line text form. Identity ids never leave the node: they are SPIFFE IDs here.
 */

/** One event as `latchctl monitor --json` prints it (JSON-ready: no bigint). */
export interface MonitorEvent {
  /** auth_required (no valid auth entry: latchd authenticates the pair) or drop (type_N if unknown). */
  type: string
  /** Why: a LATCH_R_ reason of bpf/include/latch_abi.h in lower case without the prefix (drop_no_auth…). */
  reason: string
  /** When the program saw the packet (ISO 8601, from the event's boot-ns timestamp). */
  at: string
  /** SPIFFE IDs when the ipcache knew the addresses */
  srcIdentity?: string
  dstIdentity?: string
  /** The packet's source and destination IP addresses. */
  src: string
  dst: string
  /** tcp, udp, icmp, icmpv6, sctp or ip-proto-N. */
  proto: string
  /** TCP/UDP/SCTP ports; for ICMP sport = type << 8 | code and dport = 0 */
  sport: number
  dport: number
  /** The packet's length in bytes. */
  len: number
  /** Which program saw it: from_workload (anti-spoofing) or to_workload (auth check). */
  direction: string
  /** The workload interface the program runs on. */
  ifindex: number
  /** The interface the packet arrived on (the WireGuard interface for remote sources). */
  ingressIfindex: number
  /** events of the same (src, dst, interface, reason) left out by the rate limit before this one */
  suppressed: number
}

/** One line of `latchctl monitor` (text form). */
export function formatMonitorEvent(e: MonitorEvent): string {
  const ports = e.proto === 'tcp' || e.proto === 'udp' || e.proto === 'sctp'
  const src = `${e.src}${ports ? `:${e.sport}` : ''}`
  const dst = `${e.dst}${ports ? `:${e.dport}` : ''}`
  const who = `${e.srcIdentity ?? '?'} -> ${e.dstIdentity ?? '?'}`
  const extra = e.suppressed > 0 ? ` (+${e.suppressed} suppressed)` : ''
  return `${e.at} ${e.type} ${e.reason} ${e.proto} ${src} -> ${dst} [${who}] ${e.direction} if ${e.ifindex}${extra}\n`
}

/**
 * Events from the datapath's ring buffer (struct latch_event), decoded for the daemon: an
 * auth-required event asks it to authenticate (src_id, dst_id); drop events say why a packet died.
 * The ring buffer has ONE reader per node (latchd); `latchctl monitor` gets events from latchd.
 */
import { LatchError } from '../base/errors.js'
import { decodeLatchEvent, LatchEventLayout } from './abi/generated.js'
import { bytesToIp } from './addr.js'
import { bootNsToWall, type ClockSample } from './clock.js'
import { call, type NativeAddon, type NativeRingBuffer } from './native.js'
import { directionName, eventTypeName, protocolName, reasonName } from './reasons.js'

export interface DatapathEvent {
  type: ReturnType<typeof eventTypeName>
  reason: string
  /** when the program saw the packet (wall clock, from the event's boot-ns timestamp) */
  at: Date
  bootNs: bigint
  srcId: number
  dstId: number
  src: string
  dst: string
  family: 4 | 6
  proto: string
  /** TCP/UDP/SCTP ports; for ICMP sport = type << 8 | code and dport = 0 */
  sport: number
  dport: number
  len: number
  direction: ReturnType<typeof directionName>
  ifindex: number
  ingressIfindex: number
  /** events of the same (src, dst, interface, reason) left out by the rate limit before this one */
  suppressed: number
}

/** Decodes one ring-buffer record. */
export function decodeEvent(record: Buffer, clock: ClockSample): DatapathEvent {
  if (record.length < LatchEventLayout.size) {
    throw new LatchError(
      'LATCH_ERR_BPF_ABI_MISMATCH',
      `an event record has ${record.length} bytes, struct latch_event has ${LatchEventLayout.size}`,
    )
  }
  const e = decodeLatchEvent(record)
  return {
    type: eventTypeName(e.type),
    reason: reasonName(e.reason),
    at: bootNsToWall(e.tsNs, clock),
    bootNs: e.tsNs,
    srcId: e.srcId,
    dstId: e.dstId,
    src: bytesToIp(e.src.addr),
    dst: bytesToIp(e.dst.addr),
    family: e.family === 6 ? 6 : 4,
    proto: protocolName(e.proto),
    sport: e.sport,
    dport: e.dport,
    len: e.len,
    direction: directionName(e.direction),
    ifindex: e.ifindex,
    ingressIfindex: e.ingressIfindex,
    suppressed: e.suppressed,
  }
}

export interface EventSubscription {
  /** drain whatever is in the ring now (delivery normally happens on its own) */
  drain(): number
  /** let the process exit even while subscribed */
  unref(): void
  close(): void
}

/**
 * Subscribes to the events ring buffer: `onEvents` gets every batch of decoded events, on the event
 * loop, as soon as libuv sees the ring readable. `onError` gets records that do not decode.
 */
export function subscribe(
  addon: NativeAddon,
  eventsMapFd: number,
  clock: () => ClockSample,
  onEvents: (events: DatapathEvent[]) => void,
  onError: (err: unknown) => void = (err) => {
    throw err
  },
): EventSubscription {
  const handler = (records: Buffer[]): void => {
    const sample = clock()
    const out: DatapathEvent[] = []
    for (const r of records) {
      try {
        out.push(decodeEvent(r, sample))
      } catch (err) {
        onError(err)
      }
    }
    if (out.length > 0) onEvents(out)
  }
  const rb: NativeRingBuffer = call(() => new addon.RingBuffer(eventsMapFd, handler), 'events ring buffer')
  return {
    drain: () => rb.consume(),
    unref: () => rb.unref(),
    close: () => rb.close(),
  }
}

/**
 * Names for the datapath's enums (generated from latch_abi.h), as logs, metrics, `latchctl monitor`
 * and `latchctl status` show them: LATCH_R_DROP_NO_AUTH -> "drop_no_auth". Pure.
 */
import { LatchDirection, LatchEventType, LatchReason } from './abi/generated.js'

export type Verdict = 'pass' | 'drop' | 'event'

export interface ReasonInfo {
  readonly code: number
  /** lowercase name without the LATCH_R_ prefix, e.g. "drop_no_auth" */
  readonly name: string
  /** pass/drop for packet counters, event for the ring-buffer counters */
  readonly verdict: Verdict
}

function verdictOf(name: string): Verdict {
  if (name.startsWith('drop_')) return 'drop'
  if (name.startsWith('event_')) return 'event'
  return 'pass'
}

/** Every stats slot in index order (LATCH_R_MAX excluded). */
export const REASONS: readonly ReasonInfo[] = Object.entries(LatchReason)
  .filter(([k]) => k !== 'LATCH_R_MAX')
  .map(([k, code]) => {
    const name = k.replace(/^LATCH_R_/, '').toLowerCase()
    return { code, name, verdict: verdictOf(name) }
  })
  .sort((a, b) => a.code - b.code)

export const REASON_COUNT = LatchReason.LATCH_R_MAX

export function reasonName(code: number): string {
  return REASONS[code]?.name ?? `reason_${code}`
}

export function eventTypeName(code: number): 'auth_required' | 'drop' | `type_${number}` {
  if (code === LatchEventType.LATCH_EV_AUTH_REQUIRED) return 'auth_required'
  if (code === LatchEventType.LATCH_EV_DROP) return 'drop'
  return `type_${code}`
}

export function directionName(code: number): 'from_workload' | 'to_workload' | `direction_${number}` {
  if (code === LatchDirection.LATCH_DIR_FROM_WORKLOAD) return 'from_workload'
  if (code === LatchDirection.LATCH_DIR_TO_WORKLOAD) return 'to_workload'
  return `direction_${code}`
}

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' }

export function protocolName(proto: number): string {
  return PROTOCOLS[proto] ?? `ip-proto-${proto}`
}

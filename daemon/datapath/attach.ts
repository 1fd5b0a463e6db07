/**
 * tc attachment of the datapath programs on a workload's host-side interface:
 * from_workload on clsact ingress, to_workload on clsact egress, both at one (handle, priority).
 * Idempotent: an interface that already runs our program is left alone ("adopted"); another
 * program at our slot is swapped atomically ("replaced"; also how an upgrade takes effect).
 */
import { LatchError } from '../base/errors.js'
import { call, type NativeAddon, type TcDirection } from './native.js'

export interface TcSlot {
  /** tc filter handle (default 0x1a7c) */
  handle: number
  /** tc filter priority, 1 = runs first (default 1) */
  priority: number
}

export const DEFAULT_TC_SLOT: TcSlot = { handle: 0x1a7c, priority: 1 }

export type AttachAction = 'attached' | 'adopted' | 'replaced'

export interface AttachResult {
  ifindex: number
  ingress: AttachAction
  egress: AttachAction
}

export interface Attachment {
  ifindex: number
  /** program ids at our slot, 0 = nothing */
  ingressProgId: number
  egressProgId: number
}

/** An interface name or index -> ifindex (in this process's network namespace). */
export function resolveInterface(addon: NativeAddon, iface: string | number): number {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface <= 0) {
      throw new LatchError('LATCH_ERR_BPF_INTERFACE_UNKNOWN', `${iface} is not an interface index`)
    }
    if (addon.ifIndexToName(iface) === null) {
      throw new LatchError('LATCH_ERR_BPF_INTERFACE_UNKNOWN', `there is no interface with index ${iface}`)
    }
    return iface
  }
  const ifindex = addon.ifNameToIndex(iface)
  if (ifindex === 0)
    throw new LatchError('LATCH_ERR_BPF_INTERFACE_UNKNOWN', `there is no interface named "${iface}"`)
  return ifindex
}

function attachOne(
  addon: NativeAddon,
  ifindex: number,
  direction: TcDirection,
  prog: { fd: number; id: number },
  slot: TcSlot,
): AttachAction {
  return call(() => {
    addon.tcHookCreate(ifindex, direction)
    const current = addon.tcQuery(ifindex, direction, slot.handle, slot.priority)
    if (current === prog.id) return 'adopted'
    addon.tcAttach(ifindex, direction, prog.fd, slot.handle, slot.priority, true)
    return current === 0 ? 'attached' : 'replaced'
  }, `attaching on ifindex ${ifindex} ${direction}`)
}

export function attachPrograms(
  addon: NativeAddon,
  ifindex: number,
  progs: { fromWorkload: { fd: number; id: number }; toWorkload: { fd: number; id: number } },
  slot: TcSlot,
): AttachResult {
  const ingress = attachOne(addon, ifindex, 'ingress', progs.fromWorkload, slot)
  const egress = attachOne(addon, ifindex, 'egress', progs.toWorkload, slot)
  return { ifindex, ingress, egress }
}

/** Removes our filters (only ours: the slot) from both directions; the clsact qdisc stays. */
export function detachPrograms(
  addon: NativeAddon,
  ifindex: number,
  slot: TcSlot,
): { ingress: boolean; egress: boolean } {
  return call(
    () => ({
      ingress: addon.tcDetach(ifindex, 'ingress', slot.handle, slot.priority),
      egress: addon.tcDetach(ifindex, 'egress', slot.handle, slot.priority),
    }),
    `detaching from ifindex ${ifindex}`,
  )
}

export function queryAttachment(addon: NativeAddon, ifindex: number, slot: TcSlot): Attachment {
  return call(
    () => ({
      ifindex,
      ingressProgId: addon.tcQuery(ifindex, 'ingress', slot.handle, slot.priority),
      egressProgId: addon.tcQuery(ifindex, 'egress', slot.handle, slot.priority),
    }),
    `querying ifindex ${ifindex}`,
  )
}

/**
 * The one place where wall-clock times (certificate NotAfter, `Date`) become the datapath's clock
 * and back. The programs compare against bpf_ktime_get_boot_ns(), i.e. CLOCK_BOOTTIME in ns
 * (latch_abi.h "Clock"); user space samples CLOCK_BOOTTIME and CLOCK_REALTIME together and shifts.
 */
import { call, native } from './native.js'

export interface ClockSample {
  /** CLOCK_BOOTTIME, ns */
  bootNs: bigint
  /** CLOCK_REALTIME, ns since the epoch */
  realNs: bigint
}

export interface DatapathClock {
  sample(): ClockSample
}

/** The kernel's clocks through the addon. */
export const kernelClock: DatapathClock = {
  sample() {
    const n = native()
    return call(() => {
      const realNs = n.realTimeNs()
      const bootNs = n.bootTimeNs()
      return { bootNs, realNs }
    })
  },
}

const NS_PER_MS = 1_000_000n

/** A wall-clock instant as boot ns (never negative: an instant before boot is "already past"). */
export function wallToBootNs(at: Date, s: ClockSample): bigint {
  const realNs = BigInt(at.getTime()) * NS_PER_MS
  const boot = s.bootNs + (realNs - s.realNs)
  return boot < 0n ? 0n : boot
}

/** A boot-ns instant as a wall-clock Date (millisecond precision). */
export function bootNsToWall(bootNs: bigint, s: ClockSample): Date {
  return new Date(Number((s.realNs + (bootNs - s.bootNs)) / NS_PER_MS))
}

/** A duration as ns. */
export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1e6))
}

/**
 * A datapath loaded into a pin dir of its own (/sys/fs/bpf/latch-test-<pid>-<tag>) for one test
 * file, with a stats snapshot/diff helper. Loading failures fail the tests: they need root and a
 * kernel with BPF, and CI has both.
 */
import { Datapath, type DatapathOptions } from '../../daemon/datapath/index.js'

export function testPinDir(tag: string): string {
  return `/sys/fs/bpf/latch-test-${process.pid}-${tag}`
}

export function loadTestDatapath(tag: string, opts: DatapathOptions = {}): Datapath {
  const pinDir = testPinDir(tag)
  Datapath.unpin(pinDir)
  return Datapath.load({ pinDir, eventIntervalMs: 0, ...opts })
}

export function destroyTestDatapath(dp: Datapath | undefined, tag: string): void {
  dp?.close()
  Datapath.unpin(testPinDir(tag))
}

/** Packet counters by reason (bigint -> number; tests move them by small amounts). */
export function packetCounts(dp: Datapath): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, c] of Object.entries(dp.stats.read())) out[name] = Number(c.packets)
  return out
}

/** Reasons whose packet counter changed between two snapshots, with the change. */
export function moved(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0)
    if (d !== 0) out[name] = d
  }
  return out
}

/**
 * Give memory back after a period of pressure (issue 11). A flood of connections leaves tens of MB
 * of garbage (TLS sockets, buffers) in V8's heap; an idle daemon allocates too little to trigger
 * the major GC that would free it, so the resident size stays up long after the attack. A few
 * major GCs, asynchronous (V8 runs them as tasks: the event loop is not held), at growing intervals,
 * return it: the first frees the garbage, a later one — once the daemon allocates little again —
 * also shrinks the young generation, whose semi-spaces grew from 16 to 32 MB under the flood (V8
 * shrinks them only at a GC that sees a low allocation rate). Measured on node 20 with a 12k
 * connection flood on loopback: RSS 160 → 90 MB, baseline 106.
 *
 * node exposes gc() only with --expose-gc; setting the flag at run time and taking gc from a new
 * context is the documented way (v8.setFlagsFromString) to get it without changing how latchd is
 * started. Imports nothing of latch.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => Promise<void> | undefined

let gc: Gc | undefined

/** When the GCs run, in ms after the pressure ended. */
const SCHEDULE_MS = [0, 1000, 3000, 7000]

/** Run the GCs of SCHEDULE_MS (async); resolves when the last ran. */
export async function reclaimMemory(): Promise<void> {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as Gc
  }
  let at = 0
  for (const next of SCHEDULE_MS) {
    if (next > at) await new Promise((r) => setTimeout(r, next - at).unref())
    at = next
    await gc({ type: 'major', execution: 'async' })
  }
}

/** README's metrics list stays true: every metric latchd registers is named there. */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { DaemonMetrics } from '../../daemon/observe/index.js'

const ROOT = join(import.meta.dirname, '..', '..')

test('every latch_ metric of DaemonMetrics is documented in the README', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const m = new DaemonMetrics({
    peerStates: () => ({}),
    wireguardBytes: async () => [],
    datapath: () => ({ authEntries: 0, identities: 0, remoteIdentities: 0, stats: [] }),
  })
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name).filter((n) => n.startsWith('latch_'))
  t.true(names.length >= 10, names.join(' '))
  const missing = names.filter((n) => !readme.includes(`\`${n}`))
  t.deepEqual(missing, [], `README "Metrics" misses ${missing.join(', ')}`)
})

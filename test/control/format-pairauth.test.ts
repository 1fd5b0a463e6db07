/** The human form of the pair-auth status: planned pairs and same-node pairs, side by side. */
import test from 'ava'
import { formatPairAuth } from '../../daemon/control/format-pairauth.js'
import type { PairAuthStatus } from '../../daemon/wire/status.js'

const WEB = 'spiffe://lab.latch/ns/lab/sa/web'
const API = 'spiffe://lab.latch/ns/lab/sa/api'
const DB = 'spiffe://lab.latch/ns/lab/sa/db'

test('a same-node pair is a row with this node marked (same node); a pending one names why', (t) => {
  const status: PairAuthStatus = {
    port: 7444,
    ttlSeconds: 600,
    policy: { file: '/etc/latch/policy.yaml', digest: 'ab'.repeat(32), allowedPairs: 3 },
    identities: [],
    pairs: [
      {
        local: WEB,
        remote: DB,
        node: 'node2',
        initiator: true,
        state: 'authenticated',
        expiresAt: '2026-12-02T05:00:00.000Z',
        failures: 0,
      },
      {
        local: API,
        remote: WEB,
        node: 'node1',
        initiator: false,
        sameNode: true,
        state: 'authenticated',
        expiresAt: '2026-12-02T06:00:00.000Z',
        failures: 0,
      },
      {
        local: API,
        remote: DB,
        node: 'node1',
        initiator: false,
        sameNode: true,
        state: 'pending',
        failures: 0,
        lastReason: 'no_svid',
      },
    ],
    authEntries: [],
    recentFailures: [],
  }
  const lines = formatPairAuth(status).split('\n')
  t.regex(
    lines.find((l) => l.includes(DB) && l.includes(WEB))!,
    /node2 +authenticated +2026-12-02T05:00:00.000Z +-$/,
  )
  t.regex(
    lines.find((l) => l.includes(API) && l.includes(WEB))!,
    /node1 \(same node\) +authenticated +2026-12-02T06:00:00.000Z +-$/,
  )
  t.regex(lines.find((l) => l.includes(API) && l.includes(DB))!, /node1 \(same node\) +pending +- +no_svid$/)
})

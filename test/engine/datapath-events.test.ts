/**
 * DatapathEvents: an auth-required event for a source without identity (drop_unknown_source) goes to
 * the auth-required listeners marked viaTunnel only when it arrived on the tunnel interface; from any
 * other interface it is a plain drop for the monitor and asks for no handshake.
 */
import test from 'ava'
import type { DatapathEvent } from '../../daemon/datapath/index.js'
import { DatapathEvents } from '../../daemon/engine/datapath-events.js'
import type { AuthRequiredEvent } from '../../daemon/engine/identity-datapath.js'
import type { MonitorEvent } from '../../daemon/wire/monitor.js'

const TUNNEL = 40
const DB = 'spiffe://t.latch/ns/shop/sa/db'

function unknownSource(ingressIfindex: number): DatapathEvent {
  return {
    type: 'auth_required',
    reason: 'drop_unknown_source',
    at: new Date(),
    bootNs: 1n,
    srcId: 0,
    dstId: 1,
    src: '10.100.2.11',
    dst: '10.100.1.11',
    family: 4,
    proto: 'tcp',
    sport: 40000,
    dport: 5432,
    len: 60,
    direction: 'to_workload',
    ifindex: 7,
    ingressIfindex,
    suppressed: 0,
  }
}

test('an unknown source through the tunnel asks for auth; from elsewhere it is a drop', (t) => {
  const ev = new DatapathEvents(
    (id) => (id === 1 ? DB : undefined),
    () => TUNNEL,
  )
  const auth: AuthRequiredEvent[] = []
  const all: MonitorEvent[] = []
  ev.onAuthRequired((e) => auth.push(e))
  ev.onEvent((e) => all.push(e))
  ev.deliver([unknownSource(TUNNEL), unknownSource(3)])
  t.deepEqual(auth, [
    { srcIp: '10.100.2.11', dstIp: '10.100.1.11', proto: 6, dst: DB, dport: 5432, viaTunnel: true },
  ])
  t.deepEqual(
    all.map((m) => [m.type, m.reason, m.ingressIfindex]),
    [
      ['auth_required', 'drop_unknown_source', TUNNEL],
      ['drop', 'drop_unknown_source', 3],
    ],
  )
})

/**
 * PolicyMapState (issue 10, "big policies stay cheap"): a policy hand-over prepared a chunk per
 * event-loop turn gives the entries policyEntries gives and the changes the planner's whole-map
 * diff gives; new ids complete only the rules that waited for them.
 */
import test from 'ava'
import { desiredMaps } from '../../daemon/engine/datapath-desired.js'
import { planDatapath } from '../../daemon/engine/datapath-plan.js'
import { policyEntries } from '../../daemon/engine/policy-entries.js'
import { PolicyMapState } from '../../daemon/engine/policy-map-state.js'
import { compilePolicy } from '../../daemon/policy/index.js'

const TD = 'spiffe://t.latch/ns/a/sa'
/** rules, in chunks of CHUNK: the last one partial */
const N = 1234
const CHUNK = 500

function policy(n: number, ports: string) {
  const lines = ['version: 1', 'trustDomain: t.latch', 'allow:']
  for (let i = 0; i < n; i++) {
    lines.push(
      `  - from: ${TD}/src${i % 100}`,
      `    to: ${TD}/dst${Math.floor(i / 100)}`,
      `    ports: [${ports}]`,
    )
  }
  return compilePolicy(`${lines.join('\n')}\n`, { file: 'big.yaml' })
}

function allocation(names: string[]): Map<string, number> {
  return new Map(names.map((s, i) => [s, i + 10]))
}

const srcs = Array.from({ length: 100 }, (_, i) => `${TD}/src${i}`)
const dsts = (k: number) => Array.from({ length: k }, (_, i) => `${TD}/dst${i}`)

test('a prepared hand-over yields to the event loop and equals the whole-map diff of the planner', async (t) => {
  const before = policy(N, 'tcp/5432')
  const after = policy(N, 'tcp/5432, udp/53')
  // ids for every source and for the destinations of the first half of the rules
  const ids = allocation([...srcs, ...dsts(Math.ceil(N / 200))])
  const idOf = (s: string) => ids.get(s)
  // the map holds the old policy's entries and one nobody wants
  const actual = [...policyEntries(before, idOf).entries, { srcId: 999, dstId: 998, any: true, ranges: [] }]
  let turns = 0
  const ticker = setInterval(() => turns++, 0)
  const { state, changes } = await PolicyMapState.prepare(after, idOf, ids.size, actual, CHUNK)
  clearInterval(ticker)
  t.true(turns > 0, 'timers ran while it was prepared')
  const expected = policyEntries(after, idOf)
  t.deepEqual(
    [...state.entries.values()].sort((a, b) => a.srcId - b.srcId || a.dstId - b.dstId),
    [...expected.entries],
  )
  t.is(state.waiting, expected.unresolved.length)
  const { desired } = desiredMaps(
    { local: [], wireguardIfindex: 9, remote: new Map(), auth: new Map(), policy: after },
    new Map(),
    idOf,
  )
  const plan = planDatapath(
    desired,
    { endpoints: [], ipcache: [], auth: [], policy: actual },
    { now: new Date() },
  )
  t.deepEqual(changes.write, plan.policy.write)
  t.deepEqual(
    changes.delete,
    [...plan.policy.delete].sort((a, b) => a.srcId - b.srcId || a.dstId - b.dstId),
  )
  t.true(changes.delete.some((d) => d.srcId === 999))
})

test('new ids complete only the rules that waited for them; the same allocation again completes nothing', async (t) => {
  const p = policy(300, 'tcp/80')
  const ids = allocation([...srcs, `${TD}/dst0`])
  const { state, changes } = await PolicyMapState.prepare(p, (s) => ids.get(s), ids.size, [])
  t.is(changes.write.length, 100)
  t.is(state.waiting, 200)
  t.deepEqual(
    state.resolve((s) => ids.get(s), ids.size),
    [],
  )
  ids.set(`${TD}/dst2`, 500)
  const added = state.resolve((s) => ids.get(s), ids.size)
  t.is(added.length, 100)
  t.true(added.every((e) => e.dstId === 500))
  t.is(state.waiting, 100)
  t.is(state.entries.size, 200)
  t.deepEqual(
    state.resolve((s) => ids.get(s), ids.size),
    [],
  )
})

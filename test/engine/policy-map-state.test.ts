/**
 * PolicyMapState (issue 10, "big policies stay cheap"): a policy hand-over prepared a chunk per
 * event-loop turn gives the entries policyEntries gives and the changes the planner's whole-map
 * diff gives (both run policyDiff: once at once, once in steps); a hand-over within one chunk is
 * prepared without yielding; new ids complete only the rules that waited for them.
 */
import test from 'ava'
import { desiredMaps } from '../../daemon/engine/datapath-desired.js'
import { completed, planDatapath, policyDiff } from '../../daemon/engine/datapath-plan.js'
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

test('the policy diff pauses before every chunk-th entry it visits, and never within one chunk', (t) => {
  const entry = (srcId: number, port: number) => ({
    srcId,
    dstId: 1,
    any: false,
    ranges: [{ proto: 6, low: port, high: port }],
  })
  const byKey = (es: ReturnType<typeof entry>[]) => new Map(es.map((e) => [`${e.srcId} ${e.dstId}`, e]))
  // desired: 1..6 (6 on another port than the map holds), actual: 4..9 → 6 + 6 entries visited
  const desired = byKey([1, 2, 3, 4, 5, 6].map((i) => entry(i, i === 6 ? 81 : 80)))
  const actual = byKey([4, 5, 6, 7, 8, 9].map((i) => entry(i, 80)))
  const pauses = (every: number) => {
    const steps = policyDiff(desired, actual, every)
    let n = 0
    let step = steps.next()
    while (!step.done) {
      n++
      step = steps.next()
    }
    return { n, changes: step.value }
  }
  const whole = completed(policyDiff(desired, actual))
  t.deepEqual(
    whole.write.map((e) => e.srcId),
    [1, 2, 3, 6],
  )
  t.deepEqual(
    whole.delete.map((d) => d.srcId),
    [7, 8, 9],
  )
  for (const [every, expected] of [
    [12, 0],
    [100, 0],
    [11, 1],
    [6, 1],
    [5, 2],
    [1, 11],
  ] as const) {
    const { n, changes } = pauses(every)
    t.is(n, expected, `${every} per chunk: ${expected} pauses`)
    t.deepEqual(changes, whole, `${every} per chunk: the same changes`)
  }
})

test('a hand-over within one chunk is prepared without yielding to the event loop', async (t) => {
  const p = policy(CHUNK / 2, 'tcp/80')
  const ids = allocation([...srcs, ...dsts(3)])
  const idOf = (s: string) => ids.get(s)
  const actual = policyEntries(policy(CHUNK / 2, 'tcp/81'), idOf).entries
  let turned = false
  setImmediate(() => {
    turned = true
  })
  const { changes } = await PolicyMapState.prepare(p, idOf, ids.size, actual, CHUNK)
  t.false(turned, 'no event-loop turn passed')
  t.is(changes.write.length, CHUNK / 2)
})

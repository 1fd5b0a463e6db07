/**
 * The kernel enforces the policy as written (issue 10): direction, protocols and ports, replies and
 * related ICMP errors through connection tracking, both ends, IPv6 extension headers, fragments and
 * the node's own traffic. Each scenario starts with an empty conntrack table and sends packets in
 * order through BPF_PROG_TEST_RUN; every packet asserts the tc return code AND exactly which stats
 * counter moved.
 *
 * Topology (simulated through the test-run context: ifindex 1 = the workload interface, ingress
 * ifindex = where the packet came from):
 *   A  local workload behind LO (id 1)            B  remote, via WireGuard (id 2)
 *   C  local workload behind C_VETH (id 3)        D  remote, via WireGuard (id 4)
 * Policy: A → B tcp/5432 · D → A tcp/443 · C → A udp/53, icmp · A → C tcp/80 · node → A tcp/8080.
 */
import test, { type ExecutionContext } from 'ava'
import { type Datapath, LatchIdentity } from '../../daemon/datapath/index.js'
import { mapPinPath } from '../../daemon/datapath/loader.js'
import { PolicyMap } from '../../daemon/datapath/maps/policy.js'
import { native } from '../../daemon/datapath/native.js'
import { type FrameSpec, frame, type L4, quote } from '../../daemon/datapath/packet.js'
import { applyDatapathPlan } from '../../daemon/engine/datapath-apply.js'
import type { DatapathPlan } from '../../daemon/engine/datapath-plan.js'
import { destroyTestDatapath, loadTestDatapath, moved, packetCounts } from './fixture.js'

const OK = 0
const SHOT = 2
const LO = 1
const WG = 1000
const C_VETH = 1001
const NODE = LatchIdentity.LATCH_ID_NODE

const A = { id: 1, ip: '10.100.1.11', ip6: 'fd00:100:1::11' }
const B = { id: 2, ip: '10.100.2.11', ip6: 'fd00:100:2::11' }
const C = { id: 3, ip: '10.100.1.12' }
const D = { id: 4, ip: '10.100.3.11' }
const NODE_IP = '169.254.1.1' // the node's own address on the workload link: no ipcache entry

const TCP = 6
const UDP = 17
const ICMP = 1
const SYN = 0x02
const ACK = 0x10
const FIN = 0x01
const RST = 0x04
const tcp = (sport: number, dport: number, flags = SYN): L4 => ({ proto: 'tcp', sport, dport, flags })
const udp = (sport: number, dport: number): L4 => ({ proto: 'udp', sport, dport })

const TAG = 'policy'
let dp: Datapath
const hour = () => new Date(Date.now() + 3600_000)

const RULES = [
  { srcId: A.id, dstId: B.id, any: false, ranges: [{ proto: TCP, low: 5432, high: 5432 }] },
  { srcId: D.id, dstId: A.id, any: false, ranges: [{ proto: TCP, low: 443, high: 443 }] },
  {
    srcId: C.id,
    dstId: A.id,
    any: false,
    ranges: [
      { proto: UDP, low: 53, high: 53 },
      { proto: ICMP, low: 0, high: 65535 },
    ],
  },
  { srcId: A.id, dstId: C.id, any: false, ranges: [{ proto: TCP, low: 80, high: 80 }] },
  { srcId: NODE, dstId: A.id, any: false, ranges: [{ proto: TCP, low: 8080, high: 8080 }] },
]
const AUTH = [
  [A.id, B.id],
  [B.id, A.id],
  [D.id, A.id],
  [A.id, D.id],
  [C.id, A.id],
  [A.id, C.id],
] as const

test.before(() => {
  dp = loadTestDatapath(TAG)
  dp.endpoints.set({ ifindex: LO, identity: A.id, addrs: [A.ip, A.ip6] })
  dp.ipcache.upsert([
    { prefix: A.ip, identity: A.id, scope: 'local', ifindex: LO },
    { prefix: `${A.ip6}/128`, identity: A.id, scope: 'local', ifindex: LO },
    { prefix: '10.100.2.0/24', identity: B.id, scope: 'remote', ifindex: WG },
    { prefix: 'fd00:100:2::/64', identity: B.id, scope: 'remote', ifindex: WG },
    { prefix: C.ip, identity: C.id, scope: 'local', ifindex: C_VETH },
    { prefix: '10.100.3.0/24', identity: D.id, scope: 'remote', ifindex: WG },
  ])
})

test.after.always(() => destroyTestDatapath(dp, TAG))

/** Fresh state for one scenario: the rules and auth entries above, no tracked flows. */
function reset(): void {
  dp.policy.delete(dp.policy.list())
  dp.policy.set(RULES)
  dp.auth.delete(dp.auth.list())
  dp.auth.set(AUTH.map(([srcId, dstId]) => ({ srcId, dstId, expiresAt: hour() })))
  dp.ct.flush()
  dp.config.set({ ctTcpClosedNs: 0n, ctUdpNs: 0n })
}

/** Lets `ms` of CLOCK_BOOTTIME pass (the programs' clock). */
function idle(ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) {
    // busy-wait: a few ms, synchronous like the test runs
  }
}

type Program = 'from_workload' | 'to_workload'

interface Step {
  what: string
  program: Program
  packet: FrameSpec
  /** where the packet came from (to_workload); 0 = the node's own stack */
  from?: number
  retval: number
  counter: string
}

/** Sends one packet; asserts its verdict and that exactly its counter moved by one. */
function send(t: ExecutionContext, s: Step): void {
  const before = packetCounts(dp)
  const r = dp.testRun(s.program, { data: frame(s.packet), ifindex: LO, ingressIfindex: s.from ?? 0 })
  t.deepEqual(
    { retval: r.retval, moved: moved(before, packetCounts(dp)) },
    { retval: s.retval, moved: { [s.counter]: 1 } },
    s.what,
  )
}

// A → B: the source end (from_workload at A), the reply coming back (to_workload at A)
const aToB = (l4: L4): FrameSpec => ({ src: A.ip, dst: B.ip, l4 })
const bToA = (l4: L4): FrameSpec => ({ src: B.ip, dst: A.ip, l4 })
const out = (what: string, packet: FrameSpec, retval: number, counter: string): Step => ({
  what,
  program: 'from_workload',
  packet,
  retval,
  counter,
})
const into = (what: string, packet: FrameSpec, from: number, retval: number, counter: string): Step => ({
  what,
  program: 'to_workload',
  packet,
  from,
  retval,
  counter,
})

interface Scenario {
  name: string
  steps: Step[]
  /** runs between steps: before step i when `at` === i */
  change?: { at: number; run: () => void }
}

const scenarios: Scenario[] = [
  {
    name: 'a new TCP flow on an allowed port passes at the source; its replies and next packets pass',
    steps: [
      out('SYN A → B:5432', aToB(tcp(40000, 5432)), OK, 'allowed'),
      into('SYN-ACK B:5432 → A', bToA(tcp(5432, 40000, SYN | ACK)), WG, OK, 'pass_reply'),
      out('ACK A → B:5432', aToB(tcp(40000, 5432, ACK)), OK, 'pass_established'),
      into('data B → A', bToA(tcp(5432, 40000, ACK)), WG, OK, 'pass_reply'),
    ],
  },
  {
    name: 'the source end drops what the rule does not allow: another port, UDP, ICMP',
    steps: [
      out('tcp/22 A → B', aToB(tcp(40000, 22)), SHOT, 'drop_port_not_allowed'),
      out('udp/5432 A → B', aToB(udp(40000, 5432)), SHOT, 'drop_port_not_allowed'),
      out('ping A → B', aToB({ proto: 'icmp', type: 8, code: 0 }), SHOT, 'drop_port_not_allowed'),
    ],
  },
  {
    name: 'a new flow in the reverse direction needs its own rule, at both ends',
    steps: [
      into('SYN B → A:5432 (only A → B has a rule)', bToA(tcp(40000, 5432)), WG, SHOT, 'drop_reverse'),
      into('SYN B → A:22', bToA(tcp(40000, 22)), WG, SHOT, 'drop_reverse'),
      out(
        'SYN A → D:443 (only D → A has a rule)',
        { src: A.ip, dst: D.ip, l4: tcp(40000, 443) },
        SHOT,
        'drop_reverse',
      ),
      into(
        'SYN D → C: no rule either way',
        { src: D.ip, dst: C.ip, l4: tcp(40000, 22) },
        WG,
        SHOT,
        'drop_no_rule',
      ),
    ],
  },
  {
    name: "the destination end enforces on its own and never trusts the source node's verdict",
    steps: [
      into('SYN D → A:443', { src: D.ip, dst: A.ip, l4: tcp(50000, 443) }, WG, OK, 'allowed'),
      out('SYN-ACK A:443 → D', { src: A.ip, dst: D.ip, l4: tcp(443, 50000, SYN | ACK) }, OK, 'pass_reply'),
      into('SYN D → A:80', { src: D.ip, dst: A.ip, l4: tcp(50001, 80) }, WG, SHOT, 'drop_port_not_allowed'),
      into('UDP D → A:443', { src: D.ip, dst: A.ip, l4: udp(50002, 443) }, WG, SHOT, 'drop_port_not_allowed'),
    ],
  },
  {
    name: 'a new flow without an auth entry is dropped at the source (and an auth-required event raised)',
    change: { at: 0, run: () => dp.auth.delete([{ srcId: A.id, dstId: B.id }]) },
    steps: [out('SYN A → B:5432, pair not authenticated', aToB(tcp(40000, 5432)), SHOT, 'drop_no_auth')],
  },
  {
    name: 'ICMP errors about a tracked flow pass as related; one about no flow is dropped',
    steps: [
      out('SYN A → B:5432', aToB(tcp(40000, 5432)), OK, 'allowed'),
      into(
        'port unreachable from B quoting A → B:5432',
        bToA({ proto: 'icmp', type: 3, code: 3, payload: quote(aToB(tcp(40000, 5432))) }),
        WG,
        OK,
        'pass_related',
      ),
      into(
        "the node's fragmentation-needed quoting A → B:5432",
        {
          src: NODE_IP,
          dst: A.ip,
          l4: { proto: 'icmp', type: 3, code: 4, payload: quote(aToB(tcp(40000, 5432))) },
        },
        0,
        OK,
        'pass_related',
      ),
      into(
        'port unreachable from B quoting a flow that was never opened',
        bToA({ proto: 'icmp', type: 3, code: 3, payload: quote(aToB(tcp(40001, 5432))) }),
        WG,
        SHOT,
        'drop_ct_unrelated',
      ),
      into(
        'time exceeded from B quoting nothing readable',
        bToA({ proto: 'icmp', type: 11, code: 0 }),
        WG,
        SHOT,
        'drop_ct_unrelated',
      ),
    ],
  },
  {
    name: 'ICMP echo: the request opens a flow, its reply passes, a ping the other way needs a rule',
    steps: [
      into(
        'echo C → A',
        { src: C.ip, dst: A.ip, l4: { proto: 'icmp', type: 8, code: 0, id: 77 } },
        C_VETH,
        OK,
        'allowed',
      ),
      out(
        'echo reply A → C',
        { src: A.ip, dst: C.ip, l4: { proto: 'icmp', type: 0, code: 0, id: 77 } },
        OK,
        'pass_reply',
      ),
      out(
        'echo A → C (A → C allows tcp/80 only)',
        { src: A.ip, dst: C.ip, l4: { proto: 'icmp', type: 8, code: 0, id: 78 } },
        SHOT,
        'drop_port_not_allowed',
      ),
    ],
  },
  {
    name: 'a same-node pair: each end tracks the flow on its own, the reply passes both',
    steps: [
      out('SYN A → C:80 leaving A', { src: A.ip, dst: C.ip, l4: tcp(40000, 80) }, OK, 'allowed'),
      into('SYN A → C:80 arriving at C', { src: A.ip, dst: C.ip, l4: tcp(40000, 80) }, LO, OK, 'allowed'),
      into(
        'SYN-ACK C:80 → A arriving at A',
        { src: C.ip, dst: A.ip, l4: tcp(80, 40000, SYN | ACK) },
        C_VETH,
        OK,
        'pass_reply',
      ),
      into(
        'SYN C → A:80 (no rule C → A for tcp)',
        { src: C.ip, dst: A.ip, l4: tcp(40001, 80) },
        C_VETH,
        SHOT,
        'drop_port_not_allowed',
      ),
    ],
  },
  {
    name: 'IPv6: ports behind hop-by-hop, routing and destination-options headers are enforced',
    steps: [
      out(
        'SYN A → B:5432 behind three extension headers',
        { src: A.ip6, dst: B.ip6, l4: tcp(40000, 5432), ext: ['hop-by-hop', 'routing', 'destination'] },
        OK,
        'allowed',
      ),
      into(
        'SYN-ACK back behind a destination-options header',
        { src: B.ip6, dst: A.ip6, l4: tcp(5432, 40000, SYN | ACK), ext: ['destination'] },
        WG,
        OK,
        'pass_reply',
      ),
      out(
        'SYN A → B:22 behind a hop-by-hop header',
        { src: A.ip6, dst: B.ip6, l4: tcp(40000, 22), ext: ['hop-by-hop'] },
        SHOT,
        'drop_port_not_allowed',
      ),
      out(
        'a chain of nine extension headers is malformed',
        { src: A.ip6, dst: B.ip6, l4: tcp(40000, 5432), ext: Array(9).fill('destination') },
        SHOT,
        'drop_malformed',
      ),
    ],
  },
  {
    name: 'fragments: later fragments follow an allowed first fragment; others are dropped as fragment',
    steps: [
      into(
        'first fragment of UDP C → A:53',
        { src: C.ip, dst: A.ip, l4: udp(5000, 53), fragment: { offset: 0, more: true, id: 7 } },
        C_VETH,
        OK,
        'allowed',
      ),
      into(
        'its second fragment',
        { src: C.ip, dst: A.ip, l4: udp(5000, 53), fragment: { offset: 3, more: true, id: 7 } },
        C_VETH,
        OK,
        'pass_fragment',
      ),
      into(
        'its last fragment',
        { src: C.ip, dst: A.ip, l4: udp(5000, 53), fragment: { offset: 6, more: false, id: 7 } },
        C_VETH,
        OK,
        'pass_fragment',
      ),
      into(
        'first fragment of UDP C → A:54 (denied)',
        { src: C.ip, dst: A.ip, l4: udp(5000, 54), fragment: { offset: 0, more: true, id: 8 } },
        C_VETH,
        SHOT,
        'drop_port_not_allowed',
      ),
      into(
        'its later fragment',
        { src: C.ip, dst: A.ip, l4: udp(5000, 54), fragment: { offset: 3, more: false, id: 8 } },
        C_VETH,
        SHOT,
        'drop_fragment',
      ),
      into(
        'a later fragment whose first was never seen',
        { src: C.ip, dst: A.ip, l4: udp(5000, 53), fragment: { offset: 3, more: false, id: 9 } },
        C_VETH,
        SHOT,
        'drop_fragment',
      ),
      out(
        'IPv6 first fragment A → B:5432',
        { src: A.ip6, dst: B.ip6, l4: tcp(40000, 5432), fragment: { offset: 0, more: true, id: 0x1234567 } },
        OK,
        'allowed',
      ),
      out(
        'its IPv6 later fragment',
        { src: A.ip6, dst: B.ip6, l4: tcp(40000, 5432), fragment: { offset: 4, more: false, id: 0x1234567 } },
        OK,
        'pass_fragment',
      ),
      out(
        'an IPv6 later fragment of another packet',
        { src: A.ip6, dst: B.ip6, l4: tcp(40000, 5432), fragment: { offset: 4, more: false, id: 0x7654321 } },
        SHOT,
        'drop_fragment',
      ),
    ],
  },
  {
    name: "the node's own traffic is the source `node`, judged by its rule without an auth entry",
    steps: [
      into('health probe node → A:8080', { src: NODE_IP, dst: A.ip, l4: tcp(33000, 8080) }, 0, OK, 'allowed'),
      out(
        'its reply leaves A (the node is not a mesh destination)',
        { src: A.ip, dst: NODE_IP, l4: tcp(8080, 33000, SYN | ACK) },
        OK,
        'pass_source_ok',
      ),
      into('node → A:22', { src: NODE_IP, dst: A.ip, l4: tcp(33001, 22) }, 0, SHOT, 'drop_port_not_allowed'),
      into(
        'node pings A',
        { src: NODE_IP, dst: A.ip, l4: { proto: 'icmp', type: 8, code: 0 } },
        0,
        SHOT,
        'drop_port_not_allowed',
      ),
      into(
        'the same address forwarded from elsewhere is no node traffic',
        { src: NODE_IP, dst: A.ip, l4: tcp(33002, 8080) },
        7,
        SHOT,
        'drop_unknown_source',
      ),
    ],
  },
  {
    name: 'an established flow stops at its next packet once its rule is removed (both directions)',
    change: { at: 2, run: () => dp.policy.delete([{ srcId: A.id, dstId: B.id }]) },
    steps: [
      out('SYN A → B:5432', aToB(tcp(40000, 5432)), OK, 'allowed'),
      into('SYN-ACK back', bToA(tcp(5432, 40000, SYN | ACK)), WG, OK, 'pass_reply'),
      into('data B → A after the rule went', bToA(tcp(5432, 40000, ACK)), WG, SHOT, 'drop_no_rule'),
      out('data A → B after the rule went', aToB(tcp(40000, 5432, ACK)), SHOT, 'drop_no_rule'),
    ],
  },
  {
    name: 'an established flow stops once the rule no longer allows its port',
    change: {
      at: 1,
      run: () =>
        dp.policy.set([
          { srcId: A.id, dstId: B.id, any: false, ranges: [{ proto: TCP, low: 6432, high: 6432 }] },
        ]),
    },
    steps: [
      out('SYN A → B:5432', aToB(tcp(40000, 5432)), OK, 'allowed'),
      out(
        'ACK A → B:5432 after the rule moved to 6432',
        aToB(tcp(40000, 5432, ACK)),
        SHOT,
        'drop_port_not_allowed',
      ),
    ],
  },
  {
    name: 'an established flow stops once its pair is revoked',
    change: { at: 1, run: () => dp.auth.delete([{ srcId: A.id, dstId: B.id }]) },
    steps: [
      out('SYN A → B:5432', aToB(tcp(40000, 5432)), OK, 'allowed'),
      into('SYN-ACK back after the revocation', bToA(tcp(5432, 40000, SYN | ACK)), WG, SHOT, 'drop_no_auth'),
    ],
  },
  {
    name: 'a UDP flow idle past its (configured) timeout is forgotten: the late reply is judged as a new flow',
    change: {
      at: 2,
      run: () => {
        dp.config.set({ ctUdpNs: 1_000_000n })
        idle(5)
      },
    },
    steps: [
      into('UDP C → A:53', { src: C.ip, dst: A.ip, l4: udp(5000, 53) }, C_VETH, OK, 'allowed'),
      out('its reply A:53 → C', { src: A.ip, dst: C.ip, l4: udp(53, 5000) }, OK, 'pass_reply'),
      out(
        'a reply after the 1 ms timeout (A → C allows tcp/80 only)',
        { src: A.ip, dst: C.ip, l4: udp(53, 5000) },
        SHOT,
        'drop_port_not_allowed',
      ),
    ],
  },
]

for (const s of scenarios) {
  test.serial(s.name, (t) => {
    reset()
    for (const [i, step] of s.steps.entries()) {
      if (s.change?.at === i) s.change.run()
      send(t, step)
    }
  })
}

test.serial(
  'TCP state: FIN both ways closes the flow, RST closes it at once, and closed flows expire promptly',
  (t) => {
    reset()
    const stateOf = (sport: number) =>
      dp.ct.list().find((e) => e.sport === sport && e.direction === 'from_workload')?.state
    send(t, out('SYN', aToB(tcp(41000, 5432)), OK, 'allowed'))
    t.is(stateOf(41000), 'new')
    send(t, into('SYN-ACK', bToA(tcp(5432, 41000, SYN | ACK)), WG, OK, 'pass_reply'))
    t.is(stateOf(41000), 'established')
    send(t, out('FIN from A', aToB(tcp(41000, 5432, FIN | ACK)), OK, 'pass_established'))
    t.is(stateOf(41000), 'closing')
    send(t, into('FIN from B', bToA(tcp(5432, 41000, FIN | ACK)), WG, OK, 'pass_reply'))
    t.is(stateOf(41000), 'closed')

    send(t, out('SYN of another flow', aToB(tcp(41001, 5432)), OK, 'allowed'))
    send(t, into('RST back', bToA(tcp(5432, 41001, RST | ACK)), WG, OK, 'pass_reply'))
    t.is(stateOf(41001), 'closed')

    dp.config.set({ ctTcpClosedNs: 1_000_000n })
    idle(5)
    send(
      t,
      into(
        'a late segment from B after the close timeout is a reverse flow',
        bToA(tcp(5432, 41000, ACK)),
        WG,
        SHOT,
        'drop_reverse',
      ),
    )
    send(t, out('a new SYN reusing the closed tuple opens it again', aToB(tcp(41001, 5432)), OK, 'allowed'))
    t.is(stateOf(41001), 'new')
  },
)

test.serial(
  'conntrack entries name both identities, the interface and the direction that opened them',
  (t) => {
    reset()
    send(t, out('SYN A → B:5432', aToB(tcp(42000, 5432)), OK, 'allowed'))
    const [e] = dp.ct.list()
    t.like(e, {
      src: A.ip,
      dst: B.ip,
      sport: 42000,
      dport: 5432,
      proto: TCP,
      direction: 'from_workload',
      srcId: A.id,
      dstId: B.id,
      ifindex: LO,
      state: 'new',
    })
  },
)

test.serial(
  'a tracked flow keeps its verdict until a map write makes it stale, and its auth expiry stops it without one',
  (t) => {
    reset()
    send(t, out('SYN A → B:5432', aToB(tcp(43000, 5432)), OK, 'allowed'))
    send(t, out('ACK A → B:5432', aToB(tcp(43000, 5432, ACK)), OK, 'pass_established'))
    // the rule removed behind the adapter's back (no generation bump): the kept verdict still holds,
    // which shows the established path does not look the rule up
    const raw = new (native().BpfMap)(mapPinPath(dp.pinDir, 'policy'))
    try {
      new PolicyMap(raw).delete([{ srcId: A.id, dstId: B.id }])
    } finally {
      raw.close()
    }
    send(t, out('ACK with the verdict kept', aToB(tcp(43000, 5432, ACK)), OK, 'pass_established'))
    const gen = dp.config.verdictGen()
    t.is(dp.config.bumpVerdictGen(), gen + 1n)
    send(t, out('ACK once the verdict is stale', aToB(tcp(43000, 5432, ACK)), SHOT, 'drop_no_rule'))
    t.false(
      dp.ct.list().some((e) => e.sport === 43000),
      'the flow is forgotten',
    )

    reset()
    send(t, out('SYN A → B:5432', aToB(tcp(43001, 5432)), OK, 'allowed'))
    const writes = dp.config.verdictGen()
    dp.auth.set([{ srcId: A.id, dstId: B.id, expiresAt: new Date(Date.now() + 40) }])
    t.true(dp.config.verdictGen() > writes, 'a write through the adapter bumps the generation')
    send(t, out('ACK re-checked: auth for 40 ms', aToB(tcp(43001, 5432, ACK)), OK, 'pass_established'))
    idle(60)
    send(
      t,
      out(
        'ACK after the auth entry expired, nothing written',
        aToB(tcp(43001, 5432, ACK)),
        SHOT,
        'drop_auth_expired',
      ),
    )
  },
)

test.serial(
  'an applied plan bumps the verdict generation once however many maps it writes, also when it throws midway',
  (t) => {
    reset()
    const gen = () => dp.config.verdictGen()
    const g0 = gen()
    dp.auth.set([{ srcId: A.id, dstId: B.id, expiresAt: hour() }])
    dp.policy.set([RULES[0]!])
    t.is(gen(), g0 + 2n, 'a write outside an apply bumps at once, one bump per write')

    // every map deleted from and written to: 8 batch calls, none of them changing A → B
    const plan: DatapathPlan = {
      policy: { delete: [{ srcId: D.id, dstId: C.id }], write: [RULES[0]!] },
      auth: {
        delete: [{ srcId: D.id, dstId: C.id }],
        write: [{ srcId: A.id, dstId: B.id, expiresAt: hour() }],
      },
      ipcache: {
        delete: ['10.100.9.0/24'],
        write: [{ prefix: '10.100.8.0/24', identity: D.id, scope: 'remote', ifindex: WG }],
      },
      endpoints: { delete: [78], write: [{ ifindex: 77, identity: C.id, addrs: [C.ip] }] },
    }
    const g1 = gen()
    applyDatapathPlan(dp, plan)
    t.is(gen(), g1 + 1n, 'one bump for the 8 writes of one apply')
    dp.batchWrites(() => dp.batchWrites(() => dp.ipcache.delete(['10.100.8.0/24'])))
    t.is(gen(), g1 + 2n, 'nested scopes: one bump, by the outermost')
    dp.endpoints.delete(77)

    // a tracked flow; then an apply that removes its rule and throws at a later write
    send(t, out('SYN A → B:5432', aToB(tcp(44000, 5432)), OK, 'allowed'))
    send(t, out('ACK A → B:5432', aToB(tcp(44000, 5432, ACK)), OK, 'pass_established'))
    const g2 = gen()
    const failing: DatapathPlan = {
      policy: { delete: [{ srcId: A.id, dstId: B.id }], write: [] },
      auth: { delete: [], write: [{ srcId: A.id, dstId: B.id, expiresAt: new Date(Number.NaN) }] },
      ipcache: { delete: [], write: [] },
      endpoints: { delete: [], write: [] },
    }
    t.throws(
      () => applyDatapathPlan(dp, failing),
      { code: 'LATCH_ERR_BPF_BAD_ARGUMENT' } as never,
      'the auth write fails after the policy delete went in',
    )
    t.is(gen(), g2 + 1n, 'the failed apply still bumped, once')
    send(t, out('ACK re-checked: its rule is gone', aToB(tcp(44000, 5432, ACK)), SHOT, 'drop_no_rule'))
  },
)

/**
 * `latchctl policy test FILE --datapath`: a policy file's `tests:` run against the real eBPF programs
 * and maps (bpf/latch.o) with BPF_PROG_TEST_RUN, so a test proves what the kernel does, not only
 * what the compiler thinks (issue 10, Build 8).
 *
 * Set-up: two datapaths loaded into scratch pin dirs (`<base>-src`, `<base>-dst`), standing for the
 * node of the test's `from` and the node of its `to`. Both hold what latchd would write: the policy
 * map from `policyEntries` (the daemon's own compile), and auth entries both ways for every pair the
 * policy allows (as after pair authentication). Each identity gets an id (1, 2, … in the policy's
 * order, then those only tests name) and a synthetic address (10.x.y.z and fd00:1a7c::n). For one test, the source node has
 * `from` as its workload (endpoint on the test-run interface) and `to` as remote behind WireGuard;
 * the destination node the other way round. Conntrack is flushed before every test.
 *
 * Packets per test (TCP SYN / SYN-ACK, a UDP or SCTP datagram and its answer, ICMP echo/echo reply):
 *   1. the first packet, at the source end (from_workload on `from`'s node), then at the destination
 *      end (to_workload on `to`'s node, arriving through the tunnel): the kernel's verdict;
 *   2. when it passed: the reply, at the destination end, then at the source end: must pass;
 *   3. a new flow in the reverse direction (to → from, same protocol and port): its verdict must be
 *      the policy's for to → from.
 * `from: node` tests send the first packet from the node's own stack to `to`'s workload (and the
 * reply back); there is no reverse flow (the node is no mesh destination).
 * A test without `port` asks "may from open any flow to to?": the probe uses the first port of the
 * rule from → to (else of the reverse rule, else tcp/1). The kernel looks the policy entry up by the
 * pair before any port, so drop_no_rule / drop_reverse for the probe hold for every port.
 *
 * A test passes when the compiler and the kernel both give `expect`, the reply of an allowed flow
 * passes at both ends, and the reverse flow's kernel verdict equals the policy's. Needs root (BPF).
 */
import { LatchError } from '../base/errors.js'
import { Datapath, type IpcacheEntry, LatchIdentity, REASONS } from '../datapath/index.js'
import { type FrameSpec, frame, type L4 } from '../datapath/packet.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import type { ProtocolName } from '../policy/ports.js'
import { runPolicyTests, type TestResult } from '../policy/run-tests.js'
import { NODE_SOURCE, type PolicyRule, type PolicyTest } from '../policy/types.js'
import { policyEntries } from './policy-entries.js'

/** The interface test runs happen on (loopback: it exists in every namespace). */
const WORKLOAD_IF = 1
/** Where remote packets arrive (the WireGuard interface, as the ipcache names it). */
const TUNNEL_IF = 1000
const NODE_IP4 = '169.254.1.1'
const NODE_IP6 = 'fd00:1a7c:ffff::1'
const SPORT = 40000
const REVERSE_SPORT = 40001
const ECHO_ID = 0x1a7c
const TCP_SYN = 0x02
const TCP_ACK = 0x10
const TC_ACT_OK = 0

export type End = 'source' | 'destination'

/** One packet through one program, and which stats counter it moved. */
export interface KernelStep {
  readonly packet: 'first' | 'reply' | 'reverse'
  readonly end: End
  readonly program: 'from_workload' | 'to_workload'
  readonly passed: boolean
  /** the verdict counter that moved, e.g. "allowed", "drop_port_not_allowed" */
  readonly reason: string
}

export interface DatapathTestResult extends TestResult {
  /** the protocol/port the packets used, e.g. "tcp/5432" */
  readonly probe: string
  /** what the kernel gave for the first packet */
  readonly kernel: 'allow' | 'deny'
  readonly steps: readonly KernelStep[]
}

export interface DatapathTestOptions {
  /** pin dirs are `${pinBase}-src` and `${pinBase}-dst` (default /sys/fs/bpf/latch-policy-test-<pid>) */
  readonly pinBase?: string
  /** the compiled object (default bpf/latch.o of this checkout) */
  readonly objectPath?: string
}

interface Probe {
  readonly proto: ProtocolName
  readonly port: number
}

interface Host {
  readonly id: number
  readonly ip4: string
  readonly ip6: string
}

function probeOf(policy: CompiledPolicy, test: PolicyTest): Probe {
  if (test.port !== undefined) return { proto: test.port.protocol, port: test.port.low }
  const v = policy.explain(test.from, test.to)
  const rule: PolicyRule | undefined = v.rule ?? v.reverse
  const spec = rule?.ports?.[0]
  if (spec === undefined) return { proto: 'tcp', port: 1 }
  return { proto: spec.protocol, port: spec.low === 0 && spec.high === 65535 ? 1 : spec.low }
}

function probeText(p: Probe): string {
  return p.proto === 'icmp' || p.proto === 'icmpv6' ? p.proto : `${p.proto}/${p.port}`
}

function hostOf(id: number): Host {
  return {
    id,
    ip4: `10.${(id >>> 16) & 255}.${(id >>> 8) & 255}.${id & 255}`,
    ip6: `fd00:1a7c::${id.toString(16)}`,
  }
}

type Packet = 'first' | 'reply' | 'reverse'

/** The L4 part of one packet of the probe's flow; `first`/`reverse` open, `reply` answers `first`. */
function l4Of(p: Probe, which: Packet): L4 {
  const sport = which === 'reverse' ? REVERSE_SPORT : SPORT
  if (p.proto === 'icmp' || p.proto === 'icmpv6') {
    const v6 = p.proto === 'icmpv6'
    const id = which === 'reverse' ? ECHO_ID + 1 : ECHO_ID
    const type = which === 'reply' ? (v6 ? 129 : 0) : v6 ? 128 : 8
    return { proto: 'icmp', type, code: 0, id, seq: 1 }
  }
  if (which === 'reply') {
    if (p.proto === 'tcp') return { proto: 'tcp', sport: p.port, dport: sport, flags: TCP_SYN | TCP_ACK }
    return { proto: p.proto, sport: p.port, dport: sport }
  }
  if (p.proto === 'tcp') return { proto: 'tcp', sport, dport: p.port, flags: TCP_SYN }
  return { proto: p.proto, sport, dport: p.port }
}

const VERDICT_REASONS = new Map(REASONS.filter((r) => r.verdict !== 'event').map((r) => [r.name, r]))

function packetCounts(dp: Datapath): Map<string, bigint> {
  const out = new Map<string, bigint>()
  for (const [name, c] of Object.entries(dp.stats.read())) {
    if (VERDICT_REASONS.has(name)) out.set(name, c.packets)
  }
  return out
}

class Runner {
  readonly #src: Datapath
  readonly #dst: Datapath
  readonly #policy: CompiledPolicy
  readonly #ids: ReadonlyMap<string, number>
  #prefixes: { src: string[]; dst: string[] } = { src: [], dst: [] }

  constructor(src: Datapath, dst: Datapath, policy: CompiledPolicy) {
    this.#src = src
    this.#dst = dst
    this.#policy = policy
    const ids = new Map<string, number>()
    for (const [i, spiffeId] of policy.identities.entries()) ids.set(spiffeId, i + 1)
    // identities only tests name: workloads that exist (so they have an id) but no rule names
    for (const t of policy.tests) {
      for (const s of [t.from, t.to]) if (s !== NODE_SOURCE && !ids.has(s)) ids.set(s, ids.size + 1)
    }
    this.#ids = ids
    const { entries } = policyEntries(policy, (s) => ids.get(s))
    const expiresAt = new Date(Date.now() + 24 * 3600_000)
    const auth = policy.allowedPairs().flatMap(({ a, b }) => {
      const x = ids.get(a)!
      const y = ids.get(b)!
      return [
        { srcId: x, dstId: y, expiresAt },
        { srcId: y, dstId: x, expiresAt },
      ]
    })
    for (const dp of [src, dst]) {
      dp.policy.set(entries)
      dp.auth.set(auth)
    }
  }

  #host(spiffeId: string): Host {
    return hostOf(this.#ids.get(spiffeId)!)
  }

  /** `local` is the workload of this node; `remote` (if any) lives behind the tunnel. */
  #place(dp: Datapath, which: 'src' | 'dst', local: Host, remote: Host | undefined): void {
    dp.ipcache.delete(this.#prefixes[which])
    dp.ct.flush()
    const ip4 = (h: Host) => `${h.ip4}/32`
    const ip6 = (h: Host) => `${h.ip6}/128`
    const entries: IpcacheEntry[] = [
      { prefix: ip4(local), identity: local.id, scope: 'local', ifindex: WORKLOAD_IF },
      { prefix: ip6(local), identity: local.id, scope: 'local', ifindex: WORKLOAD_IF },
    ]
    if (remote !== undefined && remote.id !== local.id) {
      entries.push(
        { prefix: ip4(remote), identity: remote.id, scope: 'remote', ifindex: TUNNEL_IF },
        { prefix: ip6(remote), identity: remote.id, scope: 'remote', ifindex: TUNNEL_IF },
      )
    }
    dp.endpoints.set({ ifindex: WORKLOAD_IF, identity: local.id, addrs: [local.ip4, local.ip6] })
    dp.ipcache.upsert(entries)
    this.#prefixes[which] = entries.map((e) => e.prefix)
  }

  #send(
    dp: Datapath,
    end: End,
    packet: Packet,
    program: KernelStep['program'],
    spec: FrameSpec,
    ingress: number,
  ): KernelStep {
    const before = packetCounts(dp)
    const r = dp.testRun(program, { data: frame(spec), ifindex: WORKLOAD_IF, ingressIfindex: ingress })
    const moved = [...packetCounts(dp)].filter(([name, n]) => n !== before.get(name)).map(([name]) => name)
    if (moved.length !== 1) {
      throw new LatchError(
        'LATCH_ERR_INTERNAL_BUG',
        `a test packet moved ${moved.length} verdict counters (${moved.join(', ') || 'none'}); the datapath counts each packet once`,
      )
    }
    return { packet, end, program, passed: r.retval === TC_ACT_OK, reason: moved[0]! }
  }

  run(test: PolicyTest, compiler: TestResult): DatapathTestResult {
    const probe = probeOf(this.#policy, test)
    const v6 = probe.proto === 'icmpv6'
    const addr = (h: Host) => (v6 ? h.ip6 : h.ip4)
    const to = this.#host(test.to)
    const steps: KernelStep[] = []
    let kernel: 'allow' | 'deny'
    let problem: string | undefined
    if (test.from === NODE_SOURCE) {
      const node = { id: LatchIdentity.LATCH_ID_NODE, ip4: NODE_IP4, ip6: NODE_IP6 }
      this.#place(this.#dst, 'dst', to, undefined)
      const fwd = { src: addr(node), dst: addr(to) }
      const first = this.#send(
        this.#dst,
        'destination',
        'first',
        'to_workload',
        { ...fwd, l4: l4Of(probe, 'first') },
        0,
      )
      steps.push(first)
      kernel = first.passed ? 'allow' : 'deny'
      if (first.passed) {
        const back = { src: addr(to), dst: addr(node), l4: l4Of(probe, 'reply') }
        const reply = this.#send(this.#dst, 'destination', 'reply', 'from_workload', back, 0)
        steps.push(reply)
        if (!reply.passed) problem = `the kernel drops the reply (${reply.reason})`
      }
    } else {
      const from = this.#host(test.from)
      this.#place(this.#src, 'src', from, to)
      this.#place(this.#dst, 'dst', to, from)
      const fwd = { src: addr(from), dst: addr(to) }
      const back = { src: addr(to), dst: addr(from) }
      const out = this.#send(
        this.#src,
        'source',
        'first',
        'from_workload',
        { ...fwd, l4: l4Of(probe, 'first') },
        0,
      )
      steps.push(out)
      if (out.passed) {
        const spec = { ...fwd, l4: l4Of(probe, 'first') }
        steps.push(this.#send(this.#dst, 'destination', 'first', 'to_workload', spec, TUNNEL_IF))
      }
      kernel = steps.every((s) => s.passed) ? 'allow' : 'deny'
      if (kernel === 'allow') {
        const spec = { ...back, l4: l4Of(probe, 'reply') }
        const r1 = this.#send(this.#dst, 'destination', 'reply', 'from_workload', spec, 0)
        steps.push(r1)
        const r2 = r1.passed
          ? this.#send(this.#src, 'source', 'reply', 'to_workload', spec, TUNNEL_IF)
          : undefined
        if (r2 !== undefined) steps.push(r2)
        const dropped = r2?.passed === false ? r2 : r1.passed ? undefined : r1
        if (dropped !== undefined)
          problem = `the kernel drops the reply at the ${dropped.end} end (${dropped.reason})`
      }
      const rev = { ...back, l4: l4Of(probe, 'reverse') }
      const rv1 = this.#send(this.#dst, 'destination', 'reverse', 'from_workload', rev, 0)
      steps.push(rv1)
      const rv2 = rv1.passed
        ? this.#send(this.#src, 'source', 'reverse', 'to_workload', rev, TUNNEL_IF)
        : undefined
      if (rv2 !== undefined) steps.push(rv2)
      const reverseKernel = rv1.passed && rv2?.passed === true
      const port = probe.proto === 'icmp' || probe.proto === 'icmpv6' ? undefined : probe.port
      const reversePolicy = this.#policy.allows(test.to, test.from, probe.proto, port)
      if (problem === undefined && reverseKernel !== reversePolicy) {
        problem = `a new flow ${test.to} → ${test.from} on ${probeText(probe)}: the policy gives ${reversePolicy ? 'allow' : 'deny'}, the kernel ${reverseKernel ? 'allow' : 'deny'} (${(rv2 ?? rv1).reason})`
      }
    }
    return this.#result(test, compiler, probe, kernel, steps, problem)
  }

  #result(
    test: PolicyTest,
    compiler: TestResult,
    probe: Probe,
    kernel: 'allow' | 'deny',
    steps: KernelStep[],
    problem: string | undefined,
  ): DatapathTestResult {
    const passed = compiler.passed && kernel === test.expect && problem === undefined
    const trace = describe(steps)
    // compiler.summary: "PASS|FAIL where: pair: ...; why"
    const body = compiler.summary.replace(/^(PASS|FAIL) /, '')
    let summary: string
    if (passed) {
      summary = `PASS ${body}; kernel on ${probeText(probe)}: ${trace}`
    } else if (!compiler.passed) {
      summary = `FAIL ${body}; kernel on ${probeText(probe)}: ${trace}`
    } else if (kernel !== test.expect) {
      summary = `FAIL ${body}; but the KERNEL gives ${kernel} on ${probeText(probe)}: ${trace}`
    } else {
      summary = `FAIL ${body}; but ${problem}; kernel on ${probeText(probe)}: ${trace}`
    }
    return { ...compiler, passed, summary, probe: probeText(probe), kernel, steps }
  }
}

/** "first packet allowed at source, allowed at destination; reply pass_reply at destination, …" */
function describe(steps: readonly KernelStep[]): string {
  const parts: string[] = []
  for (const packet of ['first', 'reply', 'reverse'] as const) {
    const of = steps.filter((s) => s.packet === packet)
    if (of.length === 0) continue
    const name = packet === 'first' ? 'first packet' : packet === 'reply' ? 'reply' : 'reverse new flow'
    parts.push(`${name} ${of.map((s) => `${s.reason} at ${s.end}`).join(', ')}`)
  }
  return parts.join('; ')
}

/** Runs every test of `policy` through the compiler and through the kernel (see the top). */
export function runPolicyTestsOnDatapath(
  policy: CompiledPolicy,
  opts: DatapathTestOptions = {},
): DatapathTestResult[] {
  const base = opts.pinBase ?? `/sys/fs/bpf/latch-policy-test-${process.pid}`
  const pins = [`${base}-src`, `${base}-dst`] as const
  const loaded: Datapath[] = []
  try {
    for (const pinDir of pins) {
      Datapath.unpin(pinDir)
      loaded.push(Datapath.load({ pinDir, eventIntervalMs: 1000, objectPath: opts.objectPath }))
    }
    const runner = new Runner(loaded[0]!, loaded[1]!, policy)
    const compiler = runPolicyTests(policy)
    return policy.tests.map((t, i) => runner.run(t, compiler[i]!))
  } finally {
    for (const dp of loaded) dp.close()
    for (const pinDir of pins) Datapath.unpin(pinDir)
  }
}

/**
 * scripts/bench-datapath: see the shell wrapper. Options: --repeat N (test-run repetitions per
 * round, default 1e6), --rounds N (default 5; the median round is reported), --entries N (default
 * 100000), --flows N (conntrack entries made before measuring, default 100000), --rules N (policy
 * entries, default 10000), --new N (distinct new flows per round, default 10000), --out FILE
 * (default bench-results/datapath.json).
 *
 * Baselines in the same run: bpf/empty.o (a do-nothing tc program) and bpf/auth-only.o (the program
 * before issue 10: ipcache + auth entry, no policy stage, no conntrack), whose "allowed" verdict is
 * the cost the established path is compared with. A new flow cannot be repeated (its first run
 * creates the conntrack entry), so it is measured as N distinct flows with repeat 1 each, against
 * the empty program run the same way. Every case checks that the counter it claims moved.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  encodeLatchIpcacheKey,
  encodeLatchIpcacheValue,
  LatchIpcacheFlags,
} from '../daemon/datapath/abi/generated.js'
import { Datapath } from '../daemon/datapath/index.js'
import { BPF_DIR, native, REPO_ROOT } from '../daemon/datapath/native.js'
import { frame } from '../daemon/datapath/packet.js'

const { values: args } = parseArgs({
  options: {
    repeat: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
    entries: { type: 'string', default: '100000' },
    flows: { type: 'string', default: '100000' },
    rules: { type: 'string', default: '10000' },
    new: { type: 'string', default: '10000' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench-results', 'datapath.json') },
  },
})
const REPEAT = Number(args.repeat)
const ROUNDS = Number(args.rounds)
const ENTRIES = Number(args.entries)
const FLOWS = Number(args.flows)
const RULES = Number(args.rules)
const NEW = Number(args.new)

const LO = 1
const WG = 1000
const A = '10.100.1.11'
const B = '10.100.2.11'
const pinDir = `/sys/fs/bpf/latch-bench-${process.pid}`
const addon = native()

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** The i-th /32 in 11.0.0.0/8 upwards, as an ipcache key (IPv4-mapped, prefixlen 128). */
function keyAt(i: number, buf: Buffer, off: number): void {
  const addr = new Uint8Array(16)
  addr[10] = 0xff
  addr[11] = 0xff
  addr[12] = 11 + (i >>> 24)
  addr[13] = (i >>> 16) & 0xff
  addr[14] = (i >>> 8) & 0xff
  addr[15] = i & 0xff
  encodeLatchIpcacheKey({ prefixlen: 128, ip: { addr } }, buf, off)
}

interface PacketRow {
  case: string
  program: string
  /** the stats counter each run of the case moved */
  counter: string
  nsPerPacket: number
  vsEmpty: number
}

const tcpFrame = (src: string, dst: string, sport: number, dport: number, flags: number) =>
  frame({ src, dst, l4: { proto: 'tcp', sport, dport, flags } })
const SYN = 0x02
const ACK = 0x10

/** Runs `fn` and checks that `counter` moved by at least `n` (the case measures what it says). */
function checked(dp: Datapath, counter: string, n: number, fn: () => number): number {
  const before = dp.stats.read()[counter]?.packets ?? 0n
  const ns = fn()
  const moved = (dp.stats.read()[counter]?.packets ?? 0n) - before
  if (moved < BigInt(n))
    throw new Error(`${counter} moved by ${moved}, expected >= ${n}: not the path measured`)
  return ns
}

/** new flows never repeat in one run (distinct source address and port) */
let nextFlow = 0

function perPacket(dp: Datapath, baseline: Datapath, emptyFd: number, label: string): PacketRow[] {
  const established = tcpFrame(B, A, 40000, 5432, ACK)
  const denied = tcpFrame('10.100.3.11', A, 40000, 5432, SYN) // identity 3: no rule
  const port = tcpFrame(B, A, 40001, 22, SYN) // rule 2 -> 1 is tcp/5432 only
  const measure = (run: () => number): number => median(Array.from({ length: ROUNDS }, run))
  const run = (d: Datapath, data: Buffer, repeat = REPEAT) =>
    d.testRun('to_workload', { data, repeat, ifindex: LO, ingressIfindex: WG }).durationNs
  const empty = measure(
    () => addon.progTestRun(emptyFd, { data: established, repeat: REPEAT, ifindex: LO }).durationNs,
  )
  const rows: PacketRow[] = [
    { case: 'empty tc program', program: 'empty', counter: '-', nsPerPacket: empty, vsEmpty: 1 },
  ]
  const row = (c: string, program: string, counter: string, ns: number) =>
    rows.push({ case: `${c}${label}`, program, counter, nsPerPacket: ns, vsEmpty: ns / empty })

  const today = measure(() => checked(baseline, 'allowed', REPEAT, () => run(baseline, established)))
  row('BEFORE issue 10: allowed (auth entry valid)', 'auth-only', 'allowed', today)
  // open the flow once, then every repetition is a conntrack hit
  run(dp, tcpFrame(B, A, 40000, 5432, SYN), 1)
  const est = measure(() => checked(dp, 'pass_established', REPEAT, () => run(dp, established)))
  row('established (ct hit, verdict kept in ct)', 'to_workload', 'pass_established', est)
  const reply = tcpFrame(A, B, 5432, 40000, ACK)
  const rep = measure(() =>
    checked(
      dp,
      'pass_reply',
      REPEAT,
      () =>
        dp.testRun('from_workload', { data: reply, repeat: REPEAT, ifindex: LO, ingressIfindex: 0 })
          .durationNs,
    ),
  )
  row('reply (ct hit, from_workload)', 'from_workload', 'pass_reply', rep)
  row(
    'denied, no rule',
    'to_workload',
    'drop_no_rule',
    measure(() => checked(dp, 'drop_no_rule', REPEAT, () => run(dp, denied))),
  )
  row(
    'denied, port not allowed',
    'to_workload',
    'drop_port_not_allowed',
    measure(() => checked(dp, 'drop_port_not_allowed', REPEAT, () => run(dp, port))),
  )

  // new flows: distinct source ports, one run each; the empty program the same way
  const frames = () =>
    Array.from({ length: NEW }, () => {
      const i = nextFlow++
      return tcpFrame(`10.100.2.${1 + (i % 250)}`, A, 20000 + Math.floor(i / 250), 5432, SYN)
    })
  const oneEach = (f: (data: Buffer) => number) => (fs: Buffer[]) =>
    Math.round(fs.reduce((n, d) => n + f(d), 0) / fs.length)
  const emptyOne = median(
    Array.from({ length: ROUNDS }, () =>
      oneEach((d) => addon.progTestRun(emptyFd, { data: d, repeat: 1, ifindex: LO }).durationNs)(frames()),
    ),
  )
  const newFlow = median(
    Array.from({ length: ROUNDS }, () => {
      const fs = frames()
      return checked(dp, 'allowed', NEW, () => oneEach((d) => run(dp, d, 1))(fs))
    }),
  )
  rows.push({
    case: 'empty tc program, repeat 1 per packet',
    program: 'empty',
    counter: '-',
    nsPerPacket: emptyOne,
    vsEmpty: 1,
  })
  rows.push({
    case: `new allowed flow (ct miss, rule, auth, ct create), repeat 1 per flow${label}`,
    program: 'to_workload',
    counter: 'allowed',
    nsPerPacket: newFlow,
    vsEmpty: newFlow / emptyOne,
  })
  return rows
}

/** FLOWS conntrack entries (made by the program: one SYN each, rule 2 -> 1 tcp/5432) and RULES policy entries. */
function fill(dp: Datapath): void {
  const rules = Array.from({ length: RULES }, (_, i) => ({
    srcId: 100 + i,
    dstId: 1 + (i % 50),
    any: false,
    ranges: [{ proto: 6, low: 8000 + (i % 100), high: 8000 + (i % 100) }],
  }))
  dp.policy.set(rules)
  for (let i = 0; i < FLOWS; i++) {
    const src = `10.100.2.${1 + (i % 250)}`
    const frameSyn = tcpFrame(src, A, 10000 + Math.floor(i / 250), 5432, SYN)
    dp.testRun('to_workload', { data: frameSyn, repeat: 1, ifindex: LO, ingressIfindex: WG })
  }
}

interface WriteRow {
  method: string
  entries: number
  totalMs: number
  usPerEntry: number
}

function writes(dp: Datapath): WriteRow[] {
  const map = new addon.BpfMap(join(pinDir, 'ipcache'))
  try {
    const ks = 20
    const vs = 12
    const keys = Buffer.alloc(ENTRIES * ks)
    const values = Buffer.alloc(ENTRIES * vs)
    const flags = LatchIpcacheFlags.LATCH_IPCACHE_F_REMOTE
    for (let i = 0; i < ENTRIES; i++) {
      keyAt(i, keys, i * ks)
      encodeLatchIpcacheValue({ identity: 1000 + (i % 5000), flags, ifindex: WG }, values, i * vs)
    }
    const clear = () => {
      const n = map.deleteMany(keys, ENTRIES)
      if (n !== ENTRIES) throw new Error(`expected ${ENTRIES} entries to delete, found ${n}`)
    }
    const time = (fn: () => void): number => {
      const t0 = process.hrtime.bigint()
      fn()
      return Number(process.hrtime.bigint() - t0) / 1e6
    }
    const batch = time(() => map.updateBatch(keys, values, ENTRIES))
    clear()
    const single = time(() => {
      for (let i = 0; i < ENTRIES; i++) {
        map.update(keys.subarray(i * ks, (i + 1) * ks), values.subarray(i * vs, (i + 1) * vs))
      }
    })
    clear()
    const viaAdapter = time(() =>
      dp.ipcache.upsert(
        Array.from({ length: ENTRIES }, (_, i) => ({
          prefix: `${11 + (i >>> 24)}.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`,
          identity: 1000 + (i % 5000),
          scope: 'remote' as const,
          ifindex: WG,
        })),
      ),
    )
    const row = (method: string, ms: number): WriteRow => ({
      method,
      entries: ENTRIES,
      totalMs: ms,
      usPerEntry: (ms * 1000) / ENTRIES,
    })
    return [
      row('one batch (BPF_MAP_UPDATE_BATCH, pre-encoded)', batch),
      row('one by one (BPF_MAP_UPDATE_ELEM each, pre-encoded)', single),
      row('adapter ipcache.upsert (parse + encode + batch)', viaAdapter),
    ]
  } finally {
    map.close()
  }
}

function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

function setUp(dp: Datapath): void {
  dp.endpoints.set({ ifindex: LO, identity: 1, addrs: [A] })
  dp.ipcache.upsert([
    { prefix: A, identity: 1, scope: 'local', ifindex: LO },
    { prefix: '10.100.2.0/24', identity: 2, scope: 'remote', ifindex: WG },
    { prefix: '10.100.3.0/24', identity: 3, scope: 'remote', ifindex: WG },
  ])
  const hour = new Date(Date.now() + 3600_000)
  dp.auth.set([
    { srcId: 2, dstId: 1, expiresAt: hour },
    { srcId: 1, dstId: 2, expiresAt: hour },
    { srcId: 3, dstId: 1, expiresAt: hour },
  ])
  dp.policy.set([{ srcId: 2, dstId: 1, any: false, ranges: [{ proto: 6, low: 5432, high: 5432 }] }])
}

function main(): void {
  Datapath.unpin(pinDir)
  Datapath.unpin(`${pinDir}-auth-only`)
  const dp = Datapath.load({ pinDir, eventIntervalMs: 1000 })
  const baseline = Datapath.load({
    pinDir: `${pinDir}-auth-only`,
    objectPath: join(BPF_DIR, 'auth-only.o'),
    eventIntervalMs: 1000,
  })
  const empty = new addon.BpfObject(join(BPF_DIR, 'empty.o'), null)
  try {
    setUp(dp)
    setUp(baseline)
    const emptyFd = empty.programs()[0]!.fd
    fill(dp)
    const ct = dp.ct.list().length
    const policy = dp.policy.list().length

    const small = perPacket(dp, baseline, emptyFd, '')
    const w = writes(dp)
    // the ipcache now holds ENTRIES more prefixes: the LPM lookups of a realistic full node
    for (const e of [baseline]) {
      e.ipcache.upsert(dp.ipcache.list().filter((x) => x.scope === 'remote' && !x.prefix.startsWith('10.')))
    }
    const full = perPacket(dp, baseline, emptyFd, `, ipcache +${ENTRIES}`).filter(
      (r) => r.program !== 'empty',
    )
    const packets = [...small, ...full]

    process.stdout.write(
      `BPF_PROG_TEST_RUN, ${REPEAT} repetitions x ${ROUNDS} rounds (median), 74-byte TCP/IPv4 frame; ${ct} conntrack entries, ${policy} policy entries\n`,
    )
    process.stdout.write(
      `${table(
        ['case', 'program', 'counter', 'ns/packet', 'x empty'],
        packets.map((r) => [r.case, r.program, r.counter, r.nsPerPacket, r.vsEmpty.toFixed(2)]),
      )}\n`,
    )
    const estVsToday = (rs: PacketRow[]) => {
      const e = rs.find((r) => r.counter === 'pass_established')!
      const b = rs.find((r) => r.program === 'auth-only')!
      return {
        establishedNs: e.nsPerPacket,
        beforeAllowedNs: b.nsPerPacket,
        ratio: e.nsPerPacket / b.nsPerPacket,
      }
    }
    const side = [estVsToday(small), estVsToday(full)]
    for (const [i, x] of side.entries()) {
      process.stdout.write(
        `established ${x.establishedNs} ns vs the allowed verdict before issue 10 ${x.beforeAllowedNs} ns: x${x.ratio.toFixed(2)}${i === 1 ? `, ipcache +${ENTRIES}` : ''} (target <= 1.5)\n`,
      )
    }
    process.stdout.write('\n')
    process.stdout.write(
      `${table(
        ['ipcache write', 'entries', 'total ms', 'us/entry'],
        w.map((r) => [r.method, r.entries, r.totalMs.toFixed(1), r.usPerEntry.toFixed(3)]),
      )}\n`,
    )
    const batch = w[0]!
    const single = w[1]!
    process.stdout.write(`batch is ${(single.totalMs / batch.totalMs).toFixed(1)}x faster than one by one\n`)

    const result = {
      when: new Date().toISOString(),
      machine: { kernel: release(), cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
      testRun: {
        repeat: REPEAT,
        rounds: ROUNDS,
        statistic: 'median of rounds; kernel-measured average per run',
      },
      conntrackEntries: ct,
      policyEntries: policy,
      perPacket: packets,
      establishedVsBefore: side,
      ipcacheWrites: w,
      batchSpeedup: single.totalMs / batch.totalMs,
    }
    mkdirSync(dirname(args.out!), { recursive: true })
    writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`)
    process.stdout.write(`wrote ${args.out}\n`)
  } finally {
    empty.close()
    dp.close()
    baseline.close()
    Datapath.unpin(pinDir)
    Datapath.unpin(`${pinDir}-auth-only`)
  }
}

main()

/**
 * scripts/bench-datapath: see the shell wrapper. Options: --repeat N (test-run repetitions per
 * round, default 1e6), --rounds N (default 5; the median round is reported), --entries N (default
 * 100000), --out FILE (default bench-results/datapath.json).
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
import { frame } from '../test/bpf/packet.js'

const { values: args } = parseArgs({
  options: {
    repeat: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
    entries: { type: 'string', default: '100000' },
    out: { type: 'string', default: join(REPO_ROOT, 'bench-results', 'datapath.json') },
  },
})
const REPEAT = Number(args.repeat)
const ROUNDS = Number(args.rounds)
const ENTRIES = Number(args.entries)

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
  nsPerPacket: number
  vsEmpty: number
}

function perPacket(dp: Datapath, emptyFd: number): PacketRow[] {
  const tcp = frame({ src: B, dst: A, l4: { proto: 'tcp', sport: 40000, dport: 5432 } })
  const fromA = frame({ src: A, dst: B, l4: { proto: 'tcp', sport: 40000, dport: 5432 } })
  const outside = frame({ src: '192.0.2.1', dst: '198.51.100.7', l4: { proto: 'tcp', sport: 1, dport: 2 } })
  const stranger = frame({ src: '10.100.3.11', dst: A, l4: { proto: 'tcp', sport: 1, dport: 2 } })
  const measure = (run: () => number): number => median(Array.from({ length: ROUNDS }, run))
  const empty = measure(
    () => addon.progTestRun(emptyFd, { data: tcp, repeat: REPEAT, ifindex: LO }).durationNs,
  )
  const cases: [string, 'from_workload' | 'to_workload', Buffer, number][] = [
    ['allowed (auth entry valid)', 'to_workload', tcp, WG],
    ['dropped, no auth entry (event rate-limited)', 'to_workload', stranger, WG],
    ['untouched (not mesh)', 'to_workload', outside, WG],
    ['anti-spoofing pass', 'from_workload', fromA, 0],
  ]
  const rows: PacketRow[] = [{ case: 'empty tc program', program: 'empty', nsPerPacket: empty, vsEmpty: 1 }]
  for (const [name, program, data, ingressIfindex] of cases) {
    const ns = measure(
      () => dp.testRun(program, { data, repeat: REPEAT, ifindex: LO, ingressIfindex }).durationNs,
    )
    rows.push({ case: name, program, nsPerPacket: ns, vsEmpty: ns / empty })
  }
  return rows
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

function main(): void {
  Datapath.unpin(pinDir)
  const dp = Datapath.load({ pinDir, eventIntervalMs: 1000 })
  const empty = new addon.BpfObject(join(BPF_DIR, 'empty.o'), null)
  try {
    dp.endpoints.set({ ifindex: LO, identity: 1, addrs: [A] })
    dp.ipcache.upsert([
      { prefix: A, identity: 1, scope: 'local', ifindex: LO },
      { prefix: '10.100.2.0/24', identity: 2, scope: 'remote', ifindex: WG },
      { prefix: '10.100.3.0/24', identity: 3, scope: 'remote', ifindex: WG },
    ])
    dp.auth.set([{ srcId: 2, dstId: 1, expiresAt: new Date(Date.now() + 3600_000) }])
    const emptyFd = empty.programs()[0]!.fd

    const small = perPacket(dp, emptyFd)
    const w = writes(dp)
    // the ipcache now holds ENTRIES more prefixes: the LPM lookups of a realistic full node
    const full = perPacket(dp, emptyFd).map((r) => ({ ...r, case: `${r.case}, ipcache +${ENTRIES}` }))
    const packets = [...small, ...full.slice(1)]

    process.stdout.write(
      `BPF_PROG_TEST_RUN, ${REPEAT} repetitions x ${ROUNDS} rounds (median), 74-byte TCP/IPv4 frame\n`,
    )
    process.stdout.write(
      `${table(
        ['case', 'program', 'ns/packet', 'x empty'],
        packets.map((r) => [r.case, r.program, r.nsPerPacket, r.vsEmpty.toFixed(2)]),
      )}\n\n`,
    )
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
      perPacket: packets,
      ipcacheWrites: w,
      batchSpeedup: single.totalMs / batch.totalMs,
    }
    mkdirSync(dirname(args.out!), { recursive: true })
    writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`)
    process.stdout.write(`wrote ${args.out}\n`)
  } finally {
    empty.close()
    dp.close()
    Datapath.unpin(pinDir)
  }
}

main()

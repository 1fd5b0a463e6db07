/**
 * Load, adopt, attach, restart: the datapath's lifecycle on a real interface (a veth pair
 * latcht<pid>/latchu<pid>, left down, carrying no traffic, removed afterwards), and the errors an
 * operator gets when the environment is wrong.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { DEFAULT_TC_SLOT } from '../../daemon/datapath/attach.js'
import { Datapath, LatchCtKeyLayout } from '../../daemon/datapath/index.js'
import { native } from '../../daemon/datapath/native.js'
import { testPinDir } from '../bpf/fixture.js'

const IFACE = `latcht${process.pid % 100000}`
const PEER = `latchu${process.pid % 100000}`
const PIN = testPinDir('life')
const PIN_BAD = testPinDir('life-bad')
const opened: Datapath[] = []
const code = (err: unknown) => (err as { code?: string }).code

function load(): Datapath {
  const dp = Datapath.load({ pinDir: PIN, eventIntervalMs: 0 })
  opened.push(dp)
  return dp
}

test.before(async () => {
  await execa('ip', ['link', 'add', IFACE, 'type', 'veth', 'peer', 'name', PEER])
  Datapath.unpin(PIN)
})

test.after.always(async () => {
  for (const dp of opened) dp.close()
  await execa('ip', ['link', 'del', IFACE], { reject: false })
  Datapath.unpin(PIN)
  await execa('rm', ['-rf', PIN_BAD], { reject: false })
})

async function tcFilters(direction: 'ingress' | 'egress'): Promise<string> {
  const r = await execa('tc', ['filter', 'show', 'dev', IFACE, direction])
  return r.stdout
}

test.serial('a first load creates and pins every map and program', (t) => {
  const dp = load()
  t.deepEqual(
    dp.programs.map((p) => [p.name, p.action]),
    [
      ['from_workload', 'loaded'],
      ['to_workload', 'loaded'],
    ],
  )
  for (const f of [
    'ipcache',
    'auth',
    'endpoints',
    'stats',
    'config',
    'event_rl',
    'events',
    'prog_from_workload',
    'prog_to_workload',
  ]) {
    t.true(existsSync(join(PIN, f)), `${f} is pinned`)
  }
})

test.serial('attaching puts both programs on the interface and says so', async (t) => {
  const dp = opened[0]!
  t.like(dp.attach(IFACE), { ingress: 'attached', egress: 'attached' })
  t.regex(await tcFilters('ingress'), /from_workload/)
  t.regex(await tcFilters('egress'), /to_workload/)
  t.true(dp.attachment(IFACE).current)
})

test.serial('attaching again changes nothing', (t) => {
  t.like(opened[0]!.attach(IFACE), { ingress: 'adopted', egress: 'adopted' })
})

test.serial(
  'a restarted daemon adopts the pinned programs, maps and attachments instead of reloading',
  async (t) => {
    const first = opened[0]!
    first.auth.set([{ srcId: 1, dstId: 2, expiresAt: new Date(Date.now() + 60_000) }])
    const ids = first.programs.map((p) => p.id)
    first.close()
    t.regex(await tcFilters('egress'), /to_workload/, 'the filter outlives the process handles')

    const second = load()
    t.deepEqual(
      second.programs.map((p) => p.action),
      ['adopted', 'adopted'],
    )
    t.deepEqual(
      second.programs.map((p) => p.id),
      ids,
      'the very same programs',
    )
    t.deepEqual(second.replacedMaps, [], 'no map replaced: every pin has this layout')
    t.deepEqual(
      second.auth.list().map((e) => [e.srcId, e.dstId]),
      [[1, 2]],
      'map contents survived',
    )
    t.like(second.attach(IFACE), { ingress: 'adopted', egress: 'adopted' })
  },
)

test.serial('a foreign program in our tc slot is replaced atomically', (t) => {
  const dp = opened[1]!
  const addon = native()
  const empty = new addon.BpfObject(join(import.meta.dirname, '..', '..', 'bpf', 'empty.o'), null)
  try {
    const prog = empty.programs()[0]!
    const ifindex = dp.ifindex(IFACE)
    addon.tcAttach(ifindex, 'egress', prog.fd, DEFAULT_TC_SLOT.handle, DEFAULT_TC_SLOT.priority, true)
    t.false(dp.attachment(IFACE).current)
    t.like(dp.attach(IFACE), { ingress: 'adopted', egress: 'replaced' })
    t.true(dp.attachment(IFACE).current)
  } finally {
    empty.close()
  }
})

test.serial('an openPinned reader sees the same state without loading anything', (t) => {
  const reader = Datapath.openPinned({ pinDir: PIN })
  opened.push(reader)
  t.deepEqual(
    reader.programs.map((p) => p.id),
    opened[1]!.programs.map((p) => p.id),
  )
  t.is(reader.auth.list().length, 1)
})

test.serial('detaching removes our filters, and a second detach finds none', async (t) => {
  const dp = opened[1]!
  t.deepEqual(dp.detach(IFACE), { ingress: true, egress: true })
  t.notRegex(await tcFilters('ingress'), /from_workload/)
  t.notRegex(await tcFilters('egress'), /to_workload/)
  t.deepEqual(dp.detach(IFACE), { ingress: false, egress: false })
})

test.serial('attaching to an interface that does not exist names it', (t) => {
  const err = t.throws(() => opened[1]!.attach('latch-nonexist'))
  t.is(code(err), 'LATCH_ERR_BPF_INTERFACE_UNKNOWN')
  t.regex((err as Error).message, /latch-nonexist/)
})

test.serial('a pinned map with another layout is reported as incompatible and left alone', async (t) => {
  await execa('mkdir', ['-p', PIN_BAD])
  await execa('bpftool', [
    'map',
    'create',
    join(PIN_BAD, 'auth'),
    'type',
    'hash',
    'key',
    '8',
    'value',
    '16',
    'entries',
    '16',
    'name',
    'auth',
  ])
  const err = t.throws(() => Datapath.load({ pinDir: PIN_BAD }))
  t.is(code(err), 'LATCH_ERR_BPF_PIN_INCOMPATIBLE')
  t.true(existsSync(join(PIN_BAD, 'auth')), 'the pinned map was not touched')
})

test.serial(
  'a conntrack map an older latch pinned with another value size is replaced at load',
  async (t) => {
    const pin = testPinDir('life-old-ct')
    Datapath.unpin(pin)
    await execa('rm', ['-rf', pin], { reject: false })
    await execa('mkdir', ['-p', pin])
    try {
      // the ct map of a latch before the verdict fields: 40-byte values
      await execa('bpftool', [
        'map',
        'create',
        join(pin, 'ct'),
        'type',
        'lru_hash',
        'key',
        String(LatchCtKeyLayout.size),
        'value',
        '40',
        'entries',
        '16',
        'name',
        'ct',
      ])
      const dp = Datapath.load({ pinDir: pin })
      try {
        t.deepEqual(dp.ct.list(), [], 'a new, empty conntrack table')
        t.deepEqual(dp.replacedMaps, ['ct'], 'the load names the map it replaced')
        t.true(dp.config.verdictGen() > 0n, 'the load made earlier verdicts stale')
      } finally {
        dp.close()
      }
    } finally {
      Datapath.unpin(pin)
      await execa('rm', ['-rf', pin], { reject: false })
    }
  },
)

test.serial('a pin dir outside bpffs is refused before anything is loaded', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-pin-'))
  try {
    t.is(code(t.throws(() => Datapath.load({ pinDir: join(dir, 'latch') }))), 'LATCH_ERR_BPF_NO_BPFFS')
  } finally {
    rmSync(dir, { recursive: true })
  }
})

test.serial('a missing object file and a missing pinned datapath have their own codes', (t) => {
  t.is(
    code(t.throws(() => Datapath.load({ pinDir: PIN, objectPath: '/nonexistent/latch.o' }))),
    'LATCH_ERR_BPF_OBJECT_MISSING',
  )
  t.is(code(t.throws(() => Datapath.openPinned({ pinDir: testPinDir('never') }))), 'LATCH_ERR_BPF_NOT_PINNED')
})

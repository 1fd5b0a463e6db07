/**
 * NodeDatapath across a latchd restart, on real pinned maps (pin dir latch-test-<pid>-ndp; a veth
 * latchw<pid> stands in for the WireGuard link, it only provides an ifindex; nothing is attached):
 * the next start adopts remote ipcache and auth entries with the same identity ids, keeps them while
 * the grace lasts, and its GC timer removes only the adopted identities nobody re-asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import pino from 'pino'
import { Datapath, LatchCtKeyLayout } from '../../daemon/datapath/index.js'
import { NodeDatapath } from '../../daemon/engine/datapath.js'
import { testPinDir } from '../bpf/fixture.js'

const PIN = testPinDir('ndp')
const WG = `latchw${process.pid % 100000}`
const GRACE_MS = 60_000
const LOCAL = 'spiffe://t.latch/ns/a/sa/local'
const KEPT = 'spiffe://t.latch/ns/b/sa/kept'
const GONE = 'spiffe://t.latch/ns/b/sa/gone'
const dir = mkdtempSync(join(tmpdir(), 'latch-ndp-'))
let clock = Date.now()
const running: NodeDatapath[] = []

function start(logs: string[] = []): NodeDatapath {
  const dp = NodeDatapath.start({
    pinDir: PIN,
    identitiesFile: join(dir, 'identities.json'),
    wireguardInterface: WG,
    workloads: [{ id: LOCAL, ips: ['10.100.1.11'] }],
    logger: pino({ level: 'info' }, { write: (s: string) => logs.push(s) }),
    remoteAdoptGraceMs: GRACE_MS,
    gcIntervalMs: 50,
    now: () => clock,
  })
  running.push(dp)
  return dp
}

function stop(dp: NodeDatapath): void {
  dp.close()
  running.splice(running.indexOf(dp), 1)
}

/** What the pinned maps hold, read by a second handle (as `latchctl` or the next daemon would). */
function pinned(): { ipcache: Map<string, number>; auth: Array<[number, number]> } {
  const dp = Datapath.openPinned({ pinDir: PIN })
  try {
    return {
      ipcache: new Map(dp.ipcache.list().map((e) => [e.prefix.replace(/\/32$/, ''), e.identity])),
      auth: dp.auth.list().map((e) => [e.srcId, e.dstId]),
    }
  } finally {
    dp.close()
  }
}

const until = async (what: string, f: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

test.before(async () => {
  Datapath.unpin(PIN)
  // this kernel has no dummy links: a veth pair (left down) gives the ifindex just as well
  await execa('ip', ['link', 'add', WG, 'type', 'veth', 'peer', 'name', `latchv${process.pid % 100000}`])
})

test.after.always(async () => {
  for (const dp of running) dp.close()
  Datapath.unpin(PIN)
  await execa('ip', ['link', 'del', WG], { reject: false })
  rmSync(dir, { recursive: true, force: true })
})

test.serial(
  'a restarted datapath adopts remote entries with the same ids and GCs only the unclaimed after the grace',
  async (t) => {
    const first = start()
    const expires = new Date(Date.now() + 600_000)
    await first.setRemoteIdentity(KEPT, ['10.100.2.11'])
    await first.setRemoteIdentity(GONE, ['10.100.2.12'])
    for (const remote of [KEPT, GONE]) {
      await first.authorize(LOCAL, remote, expires)
      await first.authorize(remote, LOCAL, expires)
    }
    const before = pinned()
    stop(first)

    // the daemon is down: nothing in the maps moves
    t.deepEqual(pinned(), before)

    const logs: string[] = []
    const second = start(logs)
    t.deepEqual(pinned(), before, 'the restart rewrote nothing: same ids, same entries')
    t.false(
      logs.some((l) => l.includes('datapath_pins_replaced')),
      'every pin had this layout',
    )
    t.deepEqual(
      [...second.remoteIdentities()].map(([id, r]) => [id, r.ips, r.adopted]),
      [
        [KEPT, ['10.100.2.11'], true],
        [GONE, ['10.100.2.12'], true],
      ],
    )

    // pair authentication re-asserts one of them; the GC runs but the grace is not over
    await second.setRemoteIdentity(KEPT, ['10.100.2.11'])
    await new Promise((r) => setTimeout(r, 200))
    t.deepEqual(pinned(), before, 'nothing removed within the grace')

    clock += GRACE_MS
    await until('the unclaimed identity removed', () => !pinned().ipcache.has('10.100.2.12'))
    const after = pinned()
    const kept = before.ipcache.get('10.100.2.11')!
    const gone = before.ipcache.get('10.100.2.12')!
    t.is(after.ipcache.get('10.100.2.11'), kept)
    t.is(after.ipcache.get('10.100.1.11'), before.ipcache.get('10.100.1.11'), 'local entry untouched')
    t.false(
      after.auth.some(([s, d]) => s === gone || d === gone),
      'auth entries naming it went too',
    )
    t.is(after.auth.filter(([s, d]) => s === kept || d === kept).length, 2)
    t.deepEqual([...second.remoteIdentities().keys()], [KEPT])
    t.true(logs.some((l) => l.includes('datapath_remote_unclaimed') && l.includes(GONE)))
    stop(second)
  },
)

test.serial(
  'removing a remote identity deletes its ipcache entries and only the auth entries naming it',
  async (t) => {
    Datapath.unpin(PIN)
    rmSync(join(dir, 'identities.json'), { force: true })
    const dp = start()
    const expires = new Date(Date.now() + 600_000)
    await dp.setRemoteIdentity(KEPT, ['10.100.2.11'])
    await dp.setRemoteIdentity(GONE, ['10.100.2.12', '10.100.2.13'])
    await dp.authorize(LOCAL, KEPT, expires)
    await dp.authorize(LOCAL, GONE, expires)
    await dp.authorize(GONE, LOCAL, expires)
    await dp.removeRemoteIdentity(GONE)
    const m = pinned()
    t.false(m.ipcache.has('10.100.2.12') || m.ipcache.has('10.100.2.13'))
    t.true(m.ipcache.has('10.100.2.11'))
    t.deepEqual(
      (await dp.listAuth()).map((e) => [e.src, e.dst]),
      [[LOCAL, KEPT]],
    )
    stop(dp)
  },
)

test.serial('a start that finds a conntrack map of an older layout logs which map it replaced', async (t) => {
  Datapath.unpin(PIN)
  await execa('mkdir', ['-p', PIN])
  // the ct map of a latch before the verdict fields: 40-byte values
  await execa('bpftool', [
    ...['map', 'create', join(PIN, 'ct'), 'type', 'lru_hash'],
    ...['key', String(LatchCtKeyLayout.size), 'value', '40', 'entries', '16', 'name', 'ct'],
  ])
  const logs: string[] = []
  stop(start(logs))
  const replaced = logs.map((l) => JSON.parse(l)).filter((l) => l.event === 'datapath_pins_replaced')
  t.is(replaced.length, 1)
  t.like(replaced[0], { level: 30, pinDir: PIN, maps: ['ct'] })
})

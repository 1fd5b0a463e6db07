/**
 * latchd's sd_notify(3) client (daemon/node/systemd.ts) against a real AF_UNIX datagram socket:
 * socat receives what the native addon sends, on a path socket and on an abstract one, exactly as
 * systemd's $NOTIFY_SOCKET would; a missing socket is LATCH_ERR_SYSTEMD_NOTIFY; WATCHDOG_USEC is
 * honoured only for this PID.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { LatchError } from '../../daemon/base/errors.js'
import { systemdNotifier } from '../../daemon/node/systemd.js'

/** A socat that prints every datagram it receives on `address` (UNIX-RECV:… or ABSTRACT-RECV:…). */
async function receiver(address: string, ready: () => boolean) {
  const proc = execa('socat', ['-u', `${address}`, 'STDOUT'], { reject: false, buffer: true })
  let out = ''
  proc.stdout?.on('data', (b: Buffer) => {
    out += b.toString()
  })
  for (let i = 0; i < 200 && !ready(); i++) await new Promise((r) => setTimeout(r, 25))
  return {
    /** Everything received so far, once it contains `needle` (or after 5 s, whatever came). */
    async until(needle: string): Promise<string> {
      for (let i = 0; i < 200 && !out.includes(needle); i++) await new Promise((r) => setTimeout(r, 25))
      return out
    },
    stop: () => proc.kill('SIGKILL'),
  }
}

test('without $NOTIFY_SOCKET every notification is a no-op and there is no watchdog', (t) => {
  const sent: string[] = []
  const n = systemdNotifier({ WATCHDOG_USEC: '1000000' }, (_s, m) => sent.push(m))
  t.false(n.enabled)
  t.is(n.watchdogMs, undefined)
  n.ready('x')
  n.reloading('x')
  n.stopping('x')
  n.startWatchdog(() => t.fail())()
  t.deepEqual(sent, [])
})

test('READY=1, RELOADING=1 and STOPPING=1 reach a real notify socket (path socket)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-notify-'))
  const path = join(dir, 'notify.sock')
  const r = await receiver(`UNIX-RECV:${path}`, () => existsSync(path))
  try {
    const n = systemdNotifier({ NOTIFY_SOCKET: path })
    t.true(n.enabled)
    n.ready('node n1 listening\non 7443')
    const first = await r.until('MAINPID=')
    t.regex(first, /^READY=1\nSTATUS=node n1 listening on 7443\nMAINPID=\d+\n/)
    t.true(first.includes(`MAINPID=${process.pid}`))
    n.reloading('reloading files')
    const second = await r.until('RELOADING=1')
    t.regex(second, /RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading files\n/)
    n.stopping('bye')
    t.true((await r.until('STOPPING=1')).includes('STOPPING=1\nSTATUS=bye\n'))
  } finally {
    r.stop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('an abstract notify socket (@name, as systemd sets it) works too', async (t) => {
  const name = `latch-notify-test-${process.pid}`
  const r = await receiver(`ABSTRACT-RECV:${name}`, () => true)
  try {
    await new Promise((res) => setTimeout(res, 300)) // socat binds the abstract name
    const n = systemdNotifier({ NOTIFY_SOCKET: `@${name}` })
    n.ready('abstract')
    t.true((await r.until('STATUS=abstract')).startsWith('READY=1\n'))
  } finally {
    r.stop()
  }
})

test('the watchdog pings at half of WATCHDOG_USEC, only when WATCHDOG_PID is this process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-notify-'))
  const path = join(dir, 'notify.sock')
  const r = await receiver(`UNIX-RECV:${path}`, () => existsSync(path))
  try {
    const other = systemdNotifier({ NOTIFY_SOCKET: path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' })
    t.is(other.watchdogMs, undefined)
    const n = systemdNotifier({
      NOTIFY_SOCKET: path,
      WATCHDOG_USEC: '200000',
      WATCHDOG_PID: String(process.pid),
    })
    t.is(n.watchdogMs, 200)
    const stop = n.startWatchdog((err) => t.fail(String(err)))
    const out = await r.until('WATCHDOG=1\nWATCHDOG=1\nWATCHDOG=1\n')
    stop()
    t.true(out.startsWith('WATCHDOG=1\nWATCHDOG=1\nWATCHDOG=1\n'))
  } finally {
    r.stop()
    await rm(dir, { recursive: true, force: true })
  }
})

test('a notify socket nobody listens on is LATCH_ERR_SYSTEMD_NOTIFY, and a watchdog reports it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-notify-'))
  try {
    const n = systemdNotifier({ NOTIFY_SOCKET: join(dir, 'none.sock'), WATCHDOG_USEC: '100000' })
    const err = t.throws(() => n.ready('x'), { instanceOf: LatchError })
    t.is(err?.code, 'LATCH_ERR_SYSTEMD_NOTIFY')
    const seen: unknown[] = []
    n.startWatchdog((e) => seen.push(e))()
    t.is((seen[0] as LatchError).code, 'LATCH_ERR_SYSTEMD_NOTIFY')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

/**
 * The XFRM netlink port against the real kernel, in a network namespace of its own (root): policies
 * are created, replaced, listed back field for field (again once the kernel's expiry timers have
 * run: nothing latch adds expires) and deleted; deleting twice is fine. An ESP SA
 * needs esp4 and rfc4106(gcm(aes)), which this host kernel may lack: then the port must say so with
 * LATCH_ERR_IPSEC_KERNEL_UNSUPPORTED or the kernel's own refusal of the algorithm (never a crash);
 * where the kernel has them (the real-kernel lane) the SA is listed back and removed.
 */
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'

const ROOT = join(import.meta.dirname, '..', '..')
const isRoot = process.getuid?.() === 0
const serial = isRoot ? test.serial : test.serial.skip
const NS = `lane-xfrm-${process.pid}`

serial('XFRM port: policies round-trip through the kernel; SAs are added or refused clearly', async (t) => {
  await execa('ip', ['netns', 'add', NS])
  try {
    const r = await execa(
      'ip',
      [
        'netns',
        'exec',
        NS,
        process.execPath,
        '--import=tsx',
        join(ROOT, 'test/transport/fixtures/xfrm-probe.ts'),
      ],
      { reject: false },
    )
    t.is(r.exitCode, 0, r.stderr)
    const out = JSON.parse(r.stdout) as {
      afterPut: Array<Record<string, unknown>>
      afterTimers: Array<Record<string, unknown>>
      afterDel: Array<Record<string, unknown>>
      sa: {
        added?: Array<Record<string, unknown>>
        afterTimers?: Array<Record<string, unknown>>
        error?: string
        message?: string
      }
      sasAfterDel: unknown[]
      concurrentLists: number[]
    }
    const byDir = new Map(out.afterPut.map((p) => [p.dir, p]))
    t.deepEqual(byDir.get('out'), {
      dir: 'out',
      sel: { src: '0.0.0.0/0', dst: '10.100.2.0/24' },
      priority: 999,
      ifId: 7,
      tmplSrc: '10.99.0.11',
      tmplDst: '10.99.0.12',
      reqid: 42,
    })
    t.deepEqual(byDir.get('in')?.sel, { src: '10.100.2.0/24', dst: '0.0.0.0/0' })
    t.is(out.afterPut.length, 2, 'the second put replaced the first out policy')
    t.deepEqual(out.afterTimers, out.afterPut, 'policies expired once the kernel timers ran')
    t.deepEqual(
      out.afterDel.map((p) => p.dir),
      ['in'],
    )
    if (out.sa.added !== undefined) {
      t.is(out.sa.added.length, 1)
      t.like(out.sa.added[0], { spi: 0x1234, reqid: 42, ifId: 7, replayWindow: 32 })
      t.deepEqual(out.sa.afterTimers, out.sa.added, 'the SA expired once the kernel timers ran')
    } else {
      t.log(`this kernel refuses the ESP SA: ${out.sa.message}`)
      t.regex(out.sa.error ?? '', /^LATCH_ERR_IPSEC_(KERNEL_UNSUPPORTED|NETLINK_FAILED)$/)
      t.regex(out.sa.message ?? '', /ENOENT|ENOSYS|EPROTONOSUPPORT|EINVAL|not found|ENOPROTOOPT/i)
    }
    t.deepEqual(out.sasAfterDel, [])
    // 64 out policies + the in policy left, dumped twice at once, then two SA dumps at once (the
    // kernel answers a dump that overlaps another on the same socket with EBUSY: the port queues)
    t.deepEqual(out.concurrentLists, [65, 65, 0, 0])
  } finally {
    await execa('ip', ['netns', 'del', NS], { reject: false })
  }
})

/**
 * The latch Debian package under systemd (issue 15's Must show): builds the .deb with
 * scripts/package (plus a second, higher version of it for the upgrade), makes a clean Debian 12
 * root with debootstrap (scripts/debian-root: minbase, systemd, and the .deb's own Depends and
 * Recommends, read from the package, since the guest has no network for apt to fetch them; plus
 * ping and pgrep for the checks), boots the real-kernel lane on it with systemd as PID 1
 * (scripts/kernel-lane --systemd --root: UML with kernel WireGuard, the root overlaid, nothing
 * written back) and runs test/packaging/systemd-guest.sh there: apt install, Type=notify READY=1,
 * reload, kill -9 → restarted without packet loss, upgrade, the `systemd-analyze security`
 * exposure, stop, purge. Every check of the guest must pass.
 *
 * Root only. Slow (a few minutes: the package build, then the guest); LATCH_DEB=FILE reuses a built
 * package. The figures (exec → READY=1, exposure) are printed and left in the results directory.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'

const ROOT = join(import.meta.dirname, '..', '..')
const isRoot = process.getuid?.() === 0

async function buildDebs(dir: string): Promise<[string, string]> {
  let deb1 = process.env['LATCH_DEB']
  if (!deb1) {
    const r = await execa(join(ROOT, 'scripts', 'package'), ['--no-build', '--out', dir], { reject: false })
    if (r.exitCode !== 0) throw new Error(`scripts/package failed:\n${r.stderr}`)
    deb1 = r.stdout.trim().split('\n').at(-1)!
  }
  // the upgrade: the same package with a higher version (repacked, not rebuilt)
  const tree = join(dir, 'v2')
  await execa('dpkg-deb', ['-R', deb1, tree])
  const control = join(tree, 'DEBIAN', 'control')
  const text = await readFile(control, 'utf8')
  const v1 = /^Version: (.*)$/m.exec(text)![1]!
  const { writeFile } = await import('node:fs/promises')
  await writeFile(control, text.replace(/^Version: .*$/m, `Version: ${v1}+upgrade1`))
  const deb2 = join(dir, basename(deb1).replace('_amd64.deb', '+upgrade1_amd64.deb'))
  await execa('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', tree, deb2])
  await rm(tree, { recursive: true, force: true })
  const local1 = join(dir, basename(deb1))
  if (local1 !== deb1) await execa('cp', [deb1, local1])
  return [local1, deb2]
}

/** The guest's root: a fresh Debian 12 with systemd, what the package depends on, and the checks' tools. */
async function debianRoot(deb: string): Promise<string> {
  const fields = await execa('dpkg-deb', ['-f', deb, 'Depends', 'Recommends'])
  // "Depends: libc6 (>= 2.36), libbpf1, …" → the package names (no alternatives in latch's control)
  const wanted = fields.stdout
    .replace(/^[A-Za-z-]+:/gm, ',')
    .split(',')
    .map((d) => d.replace(/\(.*?\)/g, '').trim())
    .filter((d) => d.length > 0)
  const include = [...wanted, 'systemd', 'systemd-sysv', 'dbus', 'apt', 'iputils-ping', 'procps']
  const r = await execa(join(ROOT, 'scripts', 'debian-root'), ['--include', include.join(',')], {
    reject: false,
  })
  if (r.exitCode !== 0) throw new Error(`scripts/debian-root failed:\n${r.stderr}`)
  return r.stdout.trim().split('\n').at(-1)!
}

test('the .deb installs, runs, reloads, restarts, upgrades and purges under systemd in the kernel lane', async (t) => {
  if (!isRoot) {
    t.fail('needs root (dpkg-deb, the UML kernel lane)')
    return
  }
  t.timeout(45 * 60_000)
  const dir = await mkdtemp(join(tmpdir(), 'latch-deb-systemd-'))
  try {
    const [deb1, deb2] = await buildDebs(dir)
    const root = await debianRoot(deb1)
    t.log(`guest root: ${root}`)
    const lane = await execa(
      join(ROOT, 'scripts', 'kernel-lane'),
      [
        '--systemd',
        '--root',
        root,
        '--timeout',
        '30m',
        '--results',
        dir,
        '--',
        'bash',
        'test/packaging/systemd-guest.sh',
        deb1,
        deb2,
      ],
      { cwd: ROOT, reject: false, all: true },
    )
    const log = existsSync(join(dir, 'output.log')) ? await readFile(join(dir, 'output.log'), 'utf8') : ''
    const checks = log.split('\n').filter((l) => l.startsWith('CHECK ') || l.startsWith('figure:'))
    t.log(checks.join('\n'))
    const failed = checks.filter((l) => l.startsWith('CHECK FAIL'))
    t.deepEqual(failed, [], log.slice(-4000))
    t.is(lane.exitCode, 0, (lane.all ?? '').slice(-4000))
    t.true(checks.filter((l) => l.startsWith('CHECK ok')).length >= 45, 'every step of the guest script ran')
    const figures = JSON.parse(await readFile(join(dir, 'figures.json'), 'utf8'))
    t.log(`figures: ${JSON.stringify(figures)}`)
    t.true(typeof figures.exposure === 'number' && figures.exposure <= 3.0, `exposure ${figures.exposure}`)
  } finally {
    if (!process.env['LATCH_KEEP_RESULTS']) await rm(dir, { recursive: true, force: true })
    else t.log(`results kept in ${dir}`)
  }
})

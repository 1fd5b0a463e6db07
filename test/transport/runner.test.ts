/**
 * The process runner never throws and never leaves an error unhandled: a missing binary and a
 * spawn that fails with EMFILE (the process is out of file descriptors) are exit code 127 with the
 * reason, and the process that ran them lives on. The EMFILE case runs in a child Node process with
 * a low RLIMIT_NOFILE (prlimit), so this test process keeps its descriptors.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { ProcessRunner, SPAWN_FAILED_EXIT } from '../../daemon/transport/runner.js'

const ROOT = join(import.meta.dirname, '..', '..')

test('a command that exists runs with its input, output and exit code', async (t) => {
  const r = await new ProcessRunner().run('sh', ['-c', 'cat; echo err >&2; exit 3'], { input: 'hello' })
  t.deepEqual(r, { stdout: 'hello', stderr: 'err\n', exitCode: 3 })
})

test('environment changes apply and undefined removes a variable', async (t) => {
  process.env.LATCH_RUNNER_TEST = 'inherited'
  const r = await new ProcessRunner().run('sh', ['-c', 'echo "$LATCH_RUNNER_TEST" "$X"'], {
    env: { LATCH_RUNNER_TEST: undefined, X: 'set' },
  })
  t.is(r.stdout, ' set\n')
})

test('a missing binary is exit code 127 with the reason, not an exception', async (t) => {
  const r = await new ProcessRunner().run('latch-no-such-binary', ['x'], { input: 'secret' })
  t.is(r.exitCode, SPAWN_FAILED_EXIT)
  t.regex(r.stderr, /cannot start latch-no-such-binary: ENOENT/)
})

test('a spawn failing with EMFILE is exit code 127 and the process lives on', async (t) => {
  const script = `
    import { openSync } from 'node:fs'
    import { ProcessRunner } from ${JSON.stringify(join(ROOT, 'daemon/transport/runner.ts'))}
    const fds = []
    try { for (;;) fds.push(openSync('/dev/null', 'r')) } catch {}
    const runner = new ProcessRunner()
    const a = await runner.run('sh', ['-c', 'true'])
    const b = await runner.run('sh', ['-c', 'cat'], { input: 'x' })
    await new Promise((r) => setTimeout(r, 200))
    console.log(JSON.stringify([a.exitCode, a.stderr, b.exitCode, b.stderr]))
  `
  const dir = await mkdtemp(join(tmpdir(), 'latch-runner-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'emfile.mjs')
  await writeFile(file, script)
  const r = await execa('prlimit', ['--nofile=128:128', process.execPath, '--import=tsx', file], {
    reject: false,
  })
  t.is(r.exitCode, 0, r.stderr)
  const [aCode, aErr, bCode, bErr] = JSON.parse(r.stdout) as [number, string, number, string]
  t.is(aCode, SPAWN_FAILED_EXIT)
  t.regex(aErr, /EMFILE/)
  t.is(bCode, SPAWN_FAILED_EXIT)
  t.regex(bErr, /EMFILE/)
})

/**
 * The datapath loads in a process under a sampling profiler (`node --cpu-prof`, scripts/bench-cni
 * --cpu-prof): V8 interrupts the JS thread with SIGPROF every interval, and a verifier interrupted
 * by a signal gives up with EAGAIN, which libbpf retries only a few times. The addon blocks SIGPROF
 * on that thread while the kernel verifies, so the load succeeds however often the profiler samples.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { testPinDir } from './fixture.js'

test('the datapath loads under node --cpu-prof sampling every 50 µs, and the profile is written', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-prof-'))
  const pin = testPinDir('prof')
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const script = `
    import { Datapath } from './daemon/datapath/index.ts'
    Datapath.unpin(${JSON.stringify(pin)})
    try {
      for (let i = 0; i < 3; i++) Datapath.load({ pinDir: ${JSON.stringify(pin)}, eventIntervalMs: 0 }).close()
    } finally {
      Datapath.unpin(${JSON.stringify(pin)})
    }
    console.log('loaded')`
  const r = await execa(
    process.execPath,
    [
      '--cpu-prof',
      '--cpu-prof-interval=50',
      `--cpu-prof-dir=${dir}`,
      '--import=tsx',
      '--input-type=module',
      '-e',
      script,
    ],
    { reject: false },
  )
  t.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`)
  t.regex(r.stdout, /loaded/)
  t.true((await readdir(dir)).some((f) => f.endsWith('.cpuprofile')))
})

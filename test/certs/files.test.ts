import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { commitFiles, KEY_MODE, PUBLIC_MODE } from '../../certs/files.js'
import { readPrivateKey } from '../../certs/keys.js'
import { isLatchError } from '../../daemon/base/errors.js'
import { hashDir, removeDir, tempDir } from './helpers.js'

let dir: string
test.before(async () => {
  dir = await tempDir('latch-files-test-')
})
test.after.always(async () => {
  if (dir) await removeDir(dir)
})

test('commitFiles writes every file with its mode; directories holding keys are 0700', async (t) => {
  const d = join(dir, 'ok')
  await commitFiles([
    { path: join(d, 'a/pub.crt'), data: 'pub', mode: PUBLIC_MODE },
    { path: join(d, 'a/priv.key'), data: 'priv', mode: KEY_MODE },
  ])
  t.is(await readFile(join(d, 'a/pub.crt'), 'utf8'), 'pub')
  t.is((await stat(join(d, 'a/priv.key'))).mode & 0o777, 0o600)
  t.is((await stat(join(d, 'a/pub.crt'))).mode & 0o777, 0o644)
  t.is((await stat(join(d, 'a'))).mode & 0o777, 0o700)
  t.deepEqual((await readdir(join(d, 'a'))).sort(), ['priv.key', 'pub.crt'], 'no temporary file is left')
})

test('commitFiles writes nothing and creates no directory when one file cannot be written', async (t) => {
  const d = join(dir, 'fail')
  await mkdir(d)
  await writeFile(join(d, 'blocker'), 'a regular file where a directory is needed')
  const before = await hashDir(d)
  const err = await t.throwsAsync(
    commitFiles([
      { path: join(d, 'new/one.crt'), data: '1', mode: PUBLIC_MODE },
      { path: join(d, 'blocker/two.key'), data: '2', mode: KEY_MODE },
    ]),
  )
  t.true(isLatchError(err, 'LATCH_ERR_PKI_WRITE_FAILED'))
  t.is(await hashDir(d), before)
})

test('commitFiles replaces existing files atomically (old content or new, never a mix)', async (t) => {
  const f = join(dir, 'replace.crt')
  await writeFile(f, 'old')
  await commitFiles([{ path: f, data: 'new', mode: PUBLIC_MODE }])
  t.is(await readFile(f, 'utf8'), 'new')
})

test('readPrivateKey refuses group- or world-readable keys and files that are not keys', async (t) => {
  const f = join(dir, 'k.key')
  const { generateKey } = await import('../../certs/keys.js')
  await writeFile(f, (await generateKey()).pem, { mode: 0o600 })
  t.regex(await readPrivateKey(f), /BEGIN PRIVATE KEY/)
  for (const mode of [0o640, 0o604, 0o644]) {
    await chmod(f, mode)
    t.true(
      isLatchError(await t.throwsAsync(readPrivateKey(f)), 'LATCH_ERR_PKI_KEY_PERMISSIONS'),
      mode.toString(8),
    )
  }
  const g = join(dir, 'garbage.key')
  await writeFile(g, 'not a key', { mode: 0o600 })
  t.true(isLatchError(await t.throwsAsync(readPrivateKey(g)), 'LATCH_ERR_PKI_KEY_UNREADABLE'))
  t.true(
    isLatchError(
      await t.throwsAsync(readPrivateKey(join(dir, 'missing.key'))),
      'LATCH_ERR_PKI_KEY_UNREADABLE',
    ),
  )
})

test('concurrent commitFiles into sibling directories under one missing parent all succeed', async (t) => {
  const d = await tempDir()
  t.teardown(() => removeDir(d))
  const writes = Array.from({ length: 8 }, (_, i) =>
    commitFiles([
      { path: join(d, 'workloads/ns/lab', `w${i}`, 'svid.key'), data: `k${i}`, mode: KEY_MODE },
      { path: join(d, 'workloads/ns/lab', `w${i}`, 'svid.crt'), data: `c${i}`, mode: PUBLIC_MODE },
    ]),
  )
  await Promise.all(writes)
  for (let i = 0; i < 8; i++) {
    t.is(await readFile(join(d, 'workloads/ns/lab', `w${i}`, 'svid.crt'), 'utf8'), `c${i}`)
  }
})

import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import {
  ensurePrivateKeyFile,
  generatePrivateKey,
  isWireguardKey,
  publicKeyOf,
} from '../../daemon/transport/wg-key.js'

const dir = (): string => mkdtempSync(join(tmpdir(), 'latch-test-wgkey-'))

test('publicKeyOf agrees with `wg pubkey` for keys from `wg genkey` and from generatePrivateKey', async (t) => {
  const keys = [(await execa('wg', ['genkey'])).stdout.trim(), generatePrivateKey(), generatePrivateKey()]
  for (const k of keys) {
    t.true(isWireguardKey(k))
    t.is(publicKeyOf(k), (await execa('wg', ['pubkey'], { input: k })).stdout.trim())
  }
})

test('generated keys are clamped like wg genkey', (t) => {
  const raw = Buffer.from(generatePrivateKey(), 'base64')
  t.is((raw[0] ?? 1) & 7, 0)
  t.is((raw[31] ?? 0) & 0xc0, 0x40)
})

test('a missing key file is created 0600 (and its directory 0700), then read back unchanged', async (t) => {
  const file = join(dir(), 'sub', 'wg.key')
  const a = await ensurePrivateKeyFile(file)
  t.true(a.created)
  t.is(statSync(file).mode & 0o777, 0o600)
  t.is(statSync(join(file, '..')).mode & 0o777, 0o700)
  t.is(readFileSync(file, 'utf8').trim(), a.privateKey)
  const b = await ensurePrivateKeyFile(file)
  t.false(b.created)
  t.deepEqual([b.privateKey, b.publicKey], [a.privateKey, a.publicKey])
})

const refused: Array<[string, string, number, string]> = [
  ['holding no key', 'hello\n', 0o600, 'LATCH_ERR_WG_KEY_INVALID'],
  ['holding a 16-byte key', `${Buffer.alloc(16).toString('base64')}\n`, 0o600, 'LATCH_ERR_WG_KEY_INVALID'],
  ['readable by the group', `${generatePrivateKey()}\n`, 0o640, 'LATCH_ERR_WG_KEY_PERMISSIONS'],
]
for (const [what, content, mode, code] of refused) {
  test(`a key file ${what} is refused with ${code} and left as it was`, async (t) => {
    const file = join(dir(), 'wg.key')
    writeFileSync(file, content)
    chmodSync(file, mode)
    await t.throwsAsync(ensurePrivateKeyFile(file), { code } as never)
    t.is(readFileSync(file, 'utf8'), content)
  })
}

test('two processes creating the key at once end up with one key', async (t) => {
  const file = join(dir(), 'wg.key')
  const results = await Promise.all([
    ensurePrivateKeyFile(file),
    ensurePrivateKeyFile(file),
    ensurePrivateKeyFile(file),
  ])
  const onDisk = readFileSync(file, 'utf8').trim()
  for (const r of results) t.is(r.privateKey, onDisk)
  t.is(results.filter((r) => r.created).length, 1)
})

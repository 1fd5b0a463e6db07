/** scripts/pki-handshake (the handshake half of scripts/pki-demo) run as a process on a per-run PKI. */
import { fileURLToPath } from 'node:url'
import test from 'ava'
import { execa } from 'execa'
import { workloadPaths } from '../../certs/layout.js'
import { parseSpiffeId } from '../../daemon/base/spiffe-id.js'
import { makePki, type Pki, removeDir, TD, W1, W2 } from '../certs/helpers.js'

const SCRIPT = fileURLToPath(new URL('../../scripts/pki-handshake.ts', import.meta.url))
let pki: Pki
let foreign: Pki

test.before(async () => {
  pki = await makePki()
  foreign = await makePki()
})

test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
  if (foreign) await removeDir(foreign.dir)
})

const args = (server: Pki, serverId: string, client: Pki, clientId: string) => {
  const s = workloadPaths(server.dir, 'node1', parseSpiffeId(serverId))
  const c = workloadPaths(client.dir, 'node1', parseSpiffeId(clientId))
  return [
    '--ca',
    `${pki.dir}/ca/root.crt`,
    '--trust-domain',
    TD,
    '--server-chain',
    s.chain,
    '--server-key',
    s.key,
    '--client-chain',
    c.chain,
    '--client-key',
    c.key,
  ]
}

test('pki-handshake prints TLS 1.3 and both verified SPIFFE IDs', async (t) => {
  const r = await execa(process.execPath, ['--import', 'tsx', SCRIPT, ...args(pki, W1, pki, W2)], {
    reject: false,
  })
  t.is(r.exitCode, 0, r.stderr)
  t.regex(r.stdout, /protocol:\s+TLSv1\.3/)
  t.regex(r.stdout, /client saw server: spiffe:\/\/lab\.latch\/ns\/lab\/sa\/node1-w1 \(verified/)
  t.regex(r.stdout, /server saw client: spiffe:\/\/lab\.latch\/ns\/lab\/sa\/node1-w2 \(verified/)
})

test('pki-handshake fails when the client holds an identity from a foreign CA', async (t) => {
  const r = await execa(process.execPath, ['--import', 'tsx', SCRIPT, ...args(pki, W1, foreign, W2)], {
    reject: false,
  })
  t.not(r.exitCode, 0)
  t.notRegex(r.stdout, /server saw client: spiffe/)
})

/** Renewing one SVID from the node intermediate: files, permissions, and nothing damaged on failure. */
import { chmod, copyFile, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { verify } from '../../certs/index.js'
import { readCurrentSvid, renewSvid } from '../../daemon/identity/index.js'
import { hashDir } from '../certs/helpers.js'
import { PairPki, TD, WEB } from '../pairauth/fixture.js'

let pki: PairPki

test.before(async () => {
  pki = await PairPki.create()
})

test.after.always(async () => {
  await pki?.remove()
})

let n = 0
function workload(ips = ['10.100.1.11']) {
  const dir = join(pki.dir, 'renew', String(n++))
  return {
    id: WEB,
    ips,
    certFile: join(dir, 'svid.crt'),
    keyFile: join(dir, 'svid.key'),
    chainFile: join(dir, 'chain.pem'),
  }
}

const node1 = () => ({ certFile: pki.node('node1').caCertFile, keyFile: pki.node('node1').caKeyFile })

test('a renewed SVID is written as key 0600, certificate and chain, and verifies', async (t) => {
  const w = workload(['10.100.1.11', '10.100.1.12'])
  const svid = await renewSvid({ intermediate: node1(), workload: w, ttl: '10m' })
  t.is((await stat(w.keyFile)).mode & 0o777, 0o600)
  t.is(await readFile(w.certFile, 'utf8'), svid.certPem)
  t.is(await readFile(w.chainFile, 'utf8'), svid.chainPem)
  const v = verify(svid.chainPem, { roots: pki.rootPem, trustDomain: TD }, { kind: 'workload' })
  if (!v.ok) return t.fail(v.message)
  t.is(v.spiffeId, WEB)
  t.deepEqual(v.ips, ['10.100.1.11', '10.100.1.12'])
  const current = await readCurrentSvid(w)
  t.is(current?.spiffeId, WEB)
  t.is(current?.notAfter.getTime(), svid.notAfter.getTime())
  t.true(Math.abs(svid.notAfter.getTime() - Date.now() - 600_000) < 2000)
})

test('renewing replaces the previous SVID in place', async (t) => {
  const w = workload()
  const first = await renewSvid({ intermediate: node1(), workload: w })
  const second = await renewSvid({ intermediate: node1(), workload: w })
  t.not(first.certPem, second.certPem)
  t.is(await readFile(w.certFile, 'utf8'), second.certPem)
  t.is(await readFile(w.keyFile, 'utf8'), second.keyPem)
})

interface FailureCase {
  name: string
  prepare: (w: ReturnType<typeof workload>) => Promise<{ certFile: string; keyFile: string }>
  workloadIps?: string[]
  code: string
}

const failures: FailureCase[] = [
  {
    name: 'an intermediate key readable by others is refused and the old SVID stays',
    prepare: async (w) => {
      const key = join(w.certFile, '..', 'ca.key')
      await copyFile(pki.node('node1').caKeyFile, key)
      await chmod(key, 0o644)
      return { certFile: pki.node('node1').caCertFile, keyFile: key }
    },
    code: 'LATCH_ERR_PKI_KEY_PERMISSIONS',
  },
  {
    name: 'a missing intermediate certificate is reported and the old SVID stays',
    prepare: async (w) => ({
      certFile: join(w.certFile, '..', 'nope.crt'),
      keyFile: pki.node('node1').caKeyFile,
    }),
    code: 'LATCH_ERR_PKI_CERT_UNREADABLE',
  },
  {
    name: "an IP outside the node's constraints is refused and the old SVID stays",
    prepare: async () => node1(),
    workloadIps: ['10.100.2.11'],
    code: 'LATCH_ERR_PKI_IP_OUTSIDE_NODE',
  },
]

for (const c of failures) {
  test(c.name, async (t) => {
    const w = workload()
    await renewSvid({ intermediate: node1(), workload: w })
    const intermediate = await c.prepare(w)
    const dir = join(w.certFile, '..')
    const before = await hashDir(dir)
    const err = await t.throwsAsync(
      renewSvid({ intermediate, workload: { ...w, ips: c.workloadIps ?? w.ips } }),
    )
    t.is((err as { code?: string }).code, c.code)
    t.is(await hashDir(dir), before)
  })
}

/**
 * SvidRenewer with a fake clock: renews at half-life, on start when missing or stale, retries after a
 * failure, and a renewal swaps the SVID the next pair-auth handshake presents.
 */
import { chmod, copyFile, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { type RenewedSvid, renewSvid, SvidRenewer } from '../../daemon/identity/index.js'
import { FakeClock } from '../base/fake-clock.js'
import { DB, PairPki, policyOf, TD, WEB } from '../pairauth/fixture.js'
import { credentialsFor, dial, listen, verdictOf } from '../pairauth/harness.js'

let pki: PairPki

test.before(async () => {
  pki = await PairPki.create()
})

test.after.always(async () => {
  await pki?.remove()
})

let n = 0
function workload(id = WEB, ips = ['10.100.1.11'], node = 'node1') {
  const dir = join(pki.dir, 'renewer', String(n++))
  return { id, ips, certFile: join(dir, 'svid.crt'), keyFile: join(dir, 'svid.key'), node }
}
const intermediateOf = (node: string) => ({
  certFile: pki.node(node).caCertFile,
  keyFile: pki.node(node).caKeyFile,
})

/** Wait until `events` has `count` entries (renewals run asynchronously after the clock fires). */
async function until<T>(events: T[], count: number): Promise<void> {
  for (let i = 0; i < 300 && events.length < count; i++) await new Promise((r) => setTimeout(r, 10))
}

test('an SVID is renewed at half-life, not before', async (t) => {
  const clock = new FakeClock(Date.now())
  const w = workload()
  const first = await renewSvid({
    intermediate: intermediateOf('node1'),
    workload: w,
    ttl: '1h',
    now: new Date(clock.now()),
  })
  const renewer = new SvidRenewer({ intermediate: intermediateOf('node1'), workloads: [w], ttl: '1h', clock })
  t.teardown(() => renewer.stop())
  const renewed: RenewedSvid[] = []
  renewer.on('renewed', (s) => renewed.push(s))
  const active = await renewer.start()
  t.is(active.length, 1)
  t.is(active[0]?.notAfter.getTime(), first.notAfter.getTime())
  t.is(renewed.length, 0, 'a fresh SVID is kept')
  // half-life counts from the issue, not from the backdated notBefore: 30 min after issue
  clock.advance(29.5 * 60_000)
  await until(renewed, 1)
  t.is(renewed.length, 0)
  clock.advance(31_000)
  await until(renewed, 1)
  t.is(renewed.length, 1)
  t.is(renewed[0]?.cause, 'half-life')
  t.true((renewed[0]?.notAfter.getTime() ?? 0) > first.notAfter.getTime())
})

test('a missing SVID is issued at start, and one for other IPs is re-issued', async (t) => {
  const clock = new FakeClock(Date.now())
  const missing = workload(WEB, ['10.100.1.11'])
  const moved = workload(DB, ['10.100.1.21'])
  await renewSvid({ intermediate: intermediateOf('node1'), workload: { ...moved, ips: ['10.100.1.22'] } })
  const renewer = new SvidRenewer({
    intermediate: intermediateOf('node1'),
    workloads: [missing, moved],
    clock,
  })
  t.teardown(() => renewer.stop())
  const renewed: RenewedSvid[] = []
  renewer.on('renewed', (s) => renewed.push(s))
  const active = await renewer.start()
  t.deepEqual(active.map((a) => a.spiffeId).sort(), [DB, WEB].sort())
  t.deepEqual(
    renewed.map((r) => `${r.spiffeId}:${r.cause}:${r.ips.join()}`).sort(),
    [`${DB}:identity-changed:10.100.1.21`, `${WEB}:missing:10.100.1.11`].sort(),
  )
  t.is(renewer.schedule().size, 2)
})

test('a 20 s SVID is renewed 10 s after issue, not at once (notBefore is backdated)', async (t) => {
  const clock = new FakeClock(Date.now())
  const w = workload()
  const renewer = new SvidRenewer({
    intermediate: intermediateOf('node1'),
    workloads: [w],
    ttl: '20s',
    clock,
  })
  t.teardown(() => renewer.stop())
  const renewed: RenewedSvid[] = []
  renewer.on('renewed', (s) => renewed.push(s))
  await renewer.start()
  t.deepEqual(
    renewed.map((r) => r.cause),
    ['missing'],
  )
  const due = renewer.schedule().get(w.id) ?? 0
  t.true(due >= clock.now() + 8_000 && due <= clock.now() + 10_000, `renewal due in ${due - clock.now()} ms`)
  clock.advance(5_000)
  await until(renewed, 2)
  t.is(renewed.length, 1, 'renewed again before half-life')
  clock.advance(6_000)
  await until(renewed, 2)
  t.is(renewed[1]?.cause, 'half-life')
})

test('an SVID that outlives the configured ttl is re-issued at start with that ttl', async (t) => {
  const clock = new FakeClock(Date.now())
  const w = workload()
  const long = await renewSvid({
    intermediate: intermediateOf('node1'),
    workload: w,
    ttl: '24h',
    now: new Date(clock.now()),
  })
  const renewer = new SvidRenewer({
    intermediate: intermediateOf('node1'),
    workloads: [w],
    ttl: '20s',
    clock,
  })
  t.teardown(() => renewer.stop())
  const renewed: RenewedSvid[] = []
  renewer.on('renewed', (s) => renewed.push(s))
  const active = await renewer.start()
  t.is(renewed.length, 1)
  t.is(renewed[0]?.cause, 'ttl-shortened')
  t.true((active[0]?.notAfter.getTime() ?? 0) < long.notAfter.getTime())
  t.true((active[0]?.notAfter.getTime() ?? 0) <= clock.now() + 20_000)
  // the short SVID it just issued is kept: no loop of re-issues
  const again = new SvidRenewer({ intermediate: intermediateOf('node1'), workloads: [w], ttl: '20s', clock })
  t.teardown(() => again.stop())
  const more: RenewedSvid[] = []
  again.on('renewed', (s) => more.push(s))
  await again.start()
  t.is(more.length, 0)
})

test('a failed renewal is reported, the old SVID stays in use, and it is retried', async (t) => {
  const clock = new FakeClock(Date.now())
  const w = workload()
  const first = await renewSvid({
    intermediate: intermediateOf('node1'),
    workload: w,
    ttl: '1h',
    now: new Date(clock.now()),
  })
  const dir = join(pki.dir, 'renewer', 'broken')
  await mkdir(dir, { recursive: true })
  const key = join(dir, 'ca.key')
  await copyFile(pki.node('node1').caKeyFile, key)
  await chmod(key, 0o644)
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const renewer = new SvidRenewer({
    intermediate: { certFile: pki.node('node1').caCertFile, keyFile: key },
    workloads: [w],
    ttl: '1h',
    clock,
    retryMs: 30_000,
  })
  t.teardown(() => renewer.stop())
  const failed: string[] = []
  const renewed: RenewedSvid[] = []
  renewer.on('failed', (_id, err) => failed.push(err.code))
  renewer.on('renewed', (s) => renewed.push(s))
  await renewer.start()
  clock.advance(31 * 60_000)
  await until(failed, 1)
  t.deepEqual(failed, ['LATCH_ERR_PKI_KEY_PERMISSIONS'])
  await chmod(key, 0o600)
  clock.advance(29_000)
  await until(renewed, 1)
  t.is(renewed.length, 0, 'not before the retry delay')
  clock.advance(2_000)
  await until(renewed, 1)
  t.is(renewed.length, 1)
  t.not(renewed[0]?.certPem, first.certPem)
})

test('a renewal swaps the SVID presented by the next handshake; the earlier result stands', async (t) => {
  const clock = new FakeClock(Date.now())
  const w = workload(DB, ['10.100.2.21'], 'node2')
  await renewSvid({
    intermediate: intermediateOf('node2'),
    workload: w,
    ttl: '20m',
    now: new Date(clock.now()),
  })
  const renewer = new SvidRenewer({ intermediate: intermediateOf('node2'), workloads: [w], ttl: '2h', clock })
  t.teardown(() => renewer.stop())
  const [active] = await renewer.start()
  if (active === undefined) return t.fail('no active SVID')
  const serverCredentials = credentialsFor(pki, active)
  renewer.on('renewed', (svid) => serverCredentials.put(svid))
  const policy = policyOf(TD, [WEB, DB])
  const l = await listen(pki, {
    node: 'node2',
    credentials: serverCredentials,
    policy,
    ttlMs: 24 * 3_600_000,
  })
  t.teardown(() => l.server.close(true))
  const client = {
    node: 'node1',
    credentials: credentialsFor(pki, await pki.svid('node1', WEB, ['10.100.1.11'], { ttl: '24h' })),
    policy,
    ttlMs: 24 * 3_600_000,
  }
  const before = await dial(pki, client, { node: 'node2', port: l.port }, WEB, DB)
  if (!before.ok) return t.fail(verdictOf(before))
  t.is(before.expiresAt.getTime(), active.notAfter.getTime(), 'bounded by the 20 min SVID')

  const renewed: RenewedSvid[] = []
  renewer.on('renewed', (s) => renewed.push(s))
  const svid = await renewer.renewNow(DB)
  if (svid === undefined) return t.fail('no renewal')
  const after = await dial(pki, client, { node: 'node2', port: l.port }, WEB, DB)
  if (!after.ok) return t.fail(verdictOf(after))
  t.is(after.expiresAt.getTime(), svid.notAfter.getTime(), 'bounded by the new 2 h SVID')
  t.true(after.expiresAt > before.expiresAt)
  t.is(renewed.length, 1)
})

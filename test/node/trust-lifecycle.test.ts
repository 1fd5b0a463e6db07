/**
 * PKI hot reload in latchd (TrustLifecycle): a bad new file is refused with its reason and the running
 * material stays; a good new set is applied whole with what changed; the revocation list reloads;
 * expiry is exported as latch_cert_expiry_seconds and warned about before it happens.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { daemonPkiFiles } from '../../certs/layout.js'
import { issueNode } from '../../certs/node.js'
import type { Config } from '../../daemon/config/schema.js'
import { checkMaterial, type TrustMaterial, trustFileList } from '../../daemon/identity/trust-material.js'
import { readAll } from '../../daemon/identity/watch-files.js'
import { type TrustChange, TrustLifecycle } from '../../daemon/node/trust-lifecycle.js'
import { makePki, removeDir, TD } from '../certs/helpers.js'

async function setup(t: { teardown: (f: () => Promise<void>) => void }, now?: () => Date) {
  const pki = await makePki()
  t.teardown(() => removeDir(pki.dir))
  const revocationFile = join(pki.dir, 'revocations.yaml')
  await writeFile(revocationFile, `version: 1\ntrustDomain: ${TD}\nrevoked: []\n`)
  const files = { ...daemonPkiFiles(pki.dir, 'node1'), revocationFile }
  const config = {
    node: 'node1',
    trustDomain: TD,
    pki: files,
    listen: { address: '10.99.0.11', port: 7443 },
    workloadCidrs: ['10.100.1.0/24'],
  } as unknown as Config
  const node = {
    node: 'node1',
    trustDomain: TD,
    listenAddress: '10.99.0.11',
    workloadCidrs: ['10.100.1.0/24'],
  }
  const first = checkMaterial(node, files, await readAll(trustFileList(files)))
  if (!first.ok) throw new Error(first.problems.join('; '))
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write: (l: string) => logs.push(JSON.parse(l)) })
  const applied: Array<{ next: TrustMaterial; changed: TrustChange }> = []
  const registry = new Registry()
  const life = new TrustLifecycle({
    config,
    logger,
    initial: first.material,
    registry,
    apply: (next, _prev, changed) => applied.push({ next, changed }),
    ...(now && { now }),
  })
  await life.start()
  t.teardown(async () => life.stop())
  return { pki, files, life, logs, applied, registry, first: first.material }
}

test('a node certificate that does not verify is refused with its reason and the running one stays', async (t) => {
  const s = await setup(t)
  const other = await makePki()
  t.teardown(() => removeDir(other.dir))
  await writeFile(s.files.certFile, await readFile(other.node1.cert, 'utf8'))
  await s.life.reload()
  t.is(s.applied.length, 0)
  t.is(s.life.current.certPem, s.first.certPem)
  const st = s.life.status()
  t.truthy(st.rejected)
  t.regex(st.rejected?.problems.join('\n') ?? '', /does not verify .*unknown_issuer/)
  t.regex(st.rejected?.problems.join('\n') ?? '', /is not the key of/)
  t.true(s.logs.some((l) => l.event === 'pki_rejected' && l.code === 'LATCH_ERR_PKI_RELOAD_REJECTED'))
})

test('a renewed node (certificate and intermediate) is applied whole, with what changed', async (t) => {
  const s = await setup(t)
  await issueNode({
    dir: s.pki.dir,
    node: 'node1',
    ip: '10.99.0.11',
    workloadCidrs: ['10.100.1.0/24'],
    force: true,
  })
  await s.life.reload()
  t.is(s.applied.length, 1)
  t.deepEqual(s.applied[0]?.changed, { bundle: false, node: true, intermediate: true, revocations: false })
  t.not(s.life.current.certPem, s.first.certPem)
  t.is(s.life.status().reloads, 1)
  t.is(s.life.status().rejected, undefined)
  t.true(s.logs.some((l) => l.event === 'pki_reloaded'))
})

test('only the node certificate renewed: only node changes', async (t) => {
  const s = await setup(t)
  await issueNode({
    dir: s.pki.dir,
    node: 'node1',
    ip: '10.99.0.11',
    workloadCidrs: ['10.100.1.0/24'],
    force: true,
    only: 'cert',
  })
  await s.life.reload()
  t.deepEqual(s.applied[0]?.changed, { bundle: false, node: true, intermediate: false, revocations: false })
})

test('a new revocation list is applied; an invalid one is refused and the running list stays', async (t) => {
  const s = await setup(t)
  await writeFile(s.files.revocationFile, `version: 1\ntrustDomain: ${TD}\nrevoked: [{node: node2}]\n`)
  await s.life.reload()
  t.is(s.applied.length, 1)
  t.deepEqual(s.applied[0]?.changed, { bundle: false, node: false, intermediate: false, revocations: true })
  t.truthy(s.life.current.revocations.revokedId(`spiffe://${TD}/latch/node/node2`))
  await writeFile(s.files.revocationFile, `version: 1\ntrustDomain: ${TD}\nrevoked: [{serial: nothex}]\n`)
  await s.life.reload()
  t.is(s.applied.length, 1)
  t.truthy(s.life.current.revocations.revokedId(`spiffe://${TD}/latch/node/node2`))
  t.regex(s.life.status().rejected?.problems.join('\n') ?? '', /not a hex serial/)
})

test('a file saved while latchd runs is picked up by the watcher within a second', async (t) => {
  const s = await setup(t)
  const at = Date.now()
  await writeFile(s.files.revocationFile, `version: 1\ntrustDomain: ${TD}\nrevoked: [{node: node3}]\n`)
  while (s.applied.length === 0 && Date.now() - at < 3000) await new Promise((r) => setTimeout(r, 20))
  t.is(s.applied.length, 1)
  t.true(Date.now() - at < 1000, `took ${Date.now() - at} ms`)
})

test('expiry of every credential is a metric, a status line and a warning before it happens', async (t) => {
  let now = new Date()
  const s = await setup(t, () => now)
  const text = await s.registry.metrics()
  for (const kind of ['root', 'intermediate', 'node'])
    t.regex(text, new RegExp(`latch_cert_expiry_seconds\\{kind="${kind}",serial="[0-9a-f]+"\\} \\d+`))
  const node = s.life.status().credentials.find((c) => c.kind === 'node')
  t.truthy(node)
  t.is(node?.warning, undefined)
  t.false(s.logs.some((l) => l.event === 'cert_expiring'))
  // 25 of the node certificate's 30 days later: inside min(30 d, a third of the lifetime)
  now = new Date(Date.now() + 25 * 86_400_000)
  await s.life.reload()
  ;(s.life as unknown as { stop(): void }).stop()
  const life2 = new TrustLifecycle({
    config: {
      node: 'node1',
      trustDomain: TD,
      pki: s.files,
      listen: { address: '10.99.0.11' },
      workloadCidrs: ['10.100.1.0/24'],
    } as unknown as Config,
    logger: pino({ level: 'debug' }, { write: (l: string) => s.logs.push(JSON.parse(l)) }),
    initial: s.first,
    apply: () => undefined,
    now: () => now,
  })
  await life2.start()
  life2.stop()
  t.true(s.logs.some((l) => l.event === 'cert_expiring' && l.kind === 'node'))
  t.truthy(life2.status().credentials.find((c) => c.kind === 'node')?.warning)
})

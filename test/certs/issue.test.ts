import { readFile } from 'node:fs/promises'
import test from 'ava'
import { LIFETIME } from '../../certs/defaults.js'
import { readNameConstraints } from '../../certs/name-constraints.js'
import { issueNode } from '../../certs/node.js'
import { listNodes } from '../../certs/state.js'
import { verify } from '../../certs/verify.js'
import { issueWorkload, issueWorkloadFromIntermediate } from '../../certs/workload.js'
import { parseCertificates } from '../../certs/x509.js'
import { isLatchError } from '../../daemon/base/errors.js'
import { makePki, type Pki, removeDir, TD, W1 } from './helpers.js'

let pki: Pki
let caCert: string
let caKey: string

test.before(async () => {
  pki = await makePki()
  await issueNode({
    dir: pki.dir,
    node: 'node6',
    ip: 'fd99::6',
    workloadCidrs: ['fd00:6::/64', '10.100.6.0/24'],
  })
  caCert = await readFile(pki.node1.caCert, 'utf8')
  caKey = await readFile(pki.node1.caKey, 'utf8')
})

test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
})

test('issueWorkloadFromIntermediate signs an SVID from PEMs alone (daemon renewal) that verifies', async (t) => {
  const svid = await issueWorkloadFromIntermediate({
    intermediateCertPem: caCert,
    intermediateKeyPem: caKey,
    spiffeId: W1,
    ips: ['10.100.1.11', '10.100.1.11', '10.100.1.99'],
    ttl: '10m',
  })
  t.deepEqual(svid.ips, ['10.100.1.11', '10.100.1.99'], 'duplicates removed')
  const r = verify(svid.chainPem, { roots: pki.root, trustDomain: TD }, { spiffeId: W1 })
  t.true(r.ok, JSON.stringify(r))
  const lifetime = svid.notAfter.getTime() - Date.now()
  t.true(lifetime > 9 * 60_000 && lifetime <= 10 * 60_000)
  t.regex(svid.keyPem, /BEGIN PRIVATE KEY/)
})

test('an SVID never outlives the intermediate that signed it', async (t) => {
  const end = (parseCertificates(caCert)[0] as { notAfter: Date }).notAfter.getTime()
  const late = new Date(end - 24 * 3_600_000)
  const svid = await issueWorkloadFromIntermediate({
    intermediateCertPem: caCert,
    intermediateKeyPem: caKey,
    spiffeId: W1,
    ips: ['10.100.1.11'],
    ttl: LIFETIME.workloadMax,
    now: late,
  })
  t.is(svid.notAfter.getTime(), end)
})

test('a root without name constraints is refused as a workload signer', async (t) => {
  const err = await t.throwsAsync(
    issueWorkloadFromIntermediate({
      intermediateCertPem: pki.root,
      intermediateKeyPem: pki.rootKey,
      spiffeId: W1,
      ips: ['10.100.1.11'],
    }),
  )
  t.true(isLatchError(err, 'LATCH_ERR_PKI_STATE_CORRUPT'))
})

test('an IP outside the intermediate constraints is refused at issue time, naming the permitted ranges', async (t) => {
  const err = await t.throwsAsync(
    issueWorkloadFromIntermediate({
      intermediateCertPem: caCert,
      intermediateKeyPem: caKey,
      spiffeId: W1,
      ips: ['10.100.2.5'],
    }),
  )
  t.true(isLatchError(err, 'LATCH_ERR_PKI_IP_OUTSIDE_NODE'))
  t.regex(err.message, /10\.100\.2\.5 is outside .*10\.100\.1\.0\/24/)
})

test('IPv6 workload ranges are constrained and issued like IPv4 ones', async (t) => {
  const nc = readNameConstraints(await readFile(`${pki.dir}/nodes/node6/ca.crt`, 'utf8'))
  t.deepEqual(nc, { permittedCidrs: ['fd00:6::/64', '10.100.6.0/24'], permittedUris: [TD] })
  const svid = await issueWorkload({
    dir: pki.dir,
    spiffeId: `spiffe://${TD}/ns/v6/sa/a`,
    node: 'node6',
    ips: ['fd00:6::a', '10.100.6.10'],
  })
  const r = verify(svid.chainPem, { roots: pki.root, trustDomain: TD })
  t.true(r.ok, JSON.stringify(r))
  if (r.ok) t.deepEqual(r.ips, ['fd00:6::a', '10.100.6.10'])
  const outside = await t.throwsAsync(
    issueWorkload({ dir: pki.dir, spiffeId: `spiffe://${TD}/ns/v6/sa/b`, node: 'node6', ips: ['fd00:7::a'] }),
  )
  t.true(isLatchError(outside, 'LATCH_ERR_PKI_IP_OUTSIDE_NODE'))
})

test('readNameConstraints of an unconstrained CA permits nothing', (t) => {
  t.deepEqual(readNameConstraints(pki.root), { permittedCidrs: [], permittedUris: [] })
})

test('a node with overlapping CIDRs of its own is refused', async (t) => {
  const err = await t.throwsAsync(
    issueNode({
      dir: pki.dir,
      node: 'node7',
      ip: '10.99.0.17',
      workloadCidrs: ['10.100.7.0/24', '10.100.7.128/25'],
    }),
  )
  t.true(isLatchError(err, 'LATCH_ERR_NET_BAD_CIDR'))
})

test('listNodes lists every issued node with its node.json', async (t) => {
  const nodes = await listNodes(pki.dir)
  t.deepEqual(
    nodes.map((n) => n.node),
    ['node1', 'node2', 'node6'],
  )
  t.deepEqual(nodes[0], { node: 'node1', underlayIp: '10.99.0.11', workloadCidrs: ['10.100.1.0/24'] })
})

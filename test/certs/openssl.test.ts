/**
 * The constraints are enforced by standard tooling, not only by our code: `openssl verify` accepts what
 * latch issues and rejects, with "permitted subtree violation", a certificate the node CA signed for an
 * IP outside its CIDRs (forced through by a test helper, since `identity issue` refuses it).
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { workloadPaths } from '../../certs/layout.js'
import { parseSpiffeId } from '../../daemon/base/spiffe-id.js'
import { forgeOnNode1, makePki, type Pki, removeDir, W1 } from './helpers.js'

let pki: Pki

test.before(async () => {
  pki = await makePki()
})

test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
})

const root = () => join(pki.dir, 'ca/root.crt')

async function opensslVerify(leafFile: string) {
  return execa('openssl', ['verify', '-CAfile', root(), '-untrusted', pki.node1.caCert, leafFile], {
    reject: false,
  })
}

test('openssl verify accepts an issued workload certificate', async (t) => {
  const leaf = workloadPaths(pki.dir, 'node1', parseSpiffeId(W1)).cert
  const r = await opensslVerify(leaf)
  t.is(r.exitCode, 0, r.stderr)
  t.regex(r.stdout, /: OK$/)
})

test('openssl verify rejects a forced certificate for an IP outside the node CIDRs with "permitted subtree violation"', async (t) => {
  const forged = await forgeOnNode1(pki, { uris: [W1], ips: ['10.100.2.11'] })
  const file = join(pki.dir, 'forged-ip.crt')
  await writeFile(file, forged.certPem)
  const r = await opensslVerify(file)
  t.not(r.exitCode, 0)
  t.regex(`${r.stdout}\n${r.stderr}`, /permitted subtree violation/)
})

test('openssl verify rejects a forced certificate for a SPIFFE ID outside the trust domain', async (t) => {
  const forged = await forgeOnNode1(pki, { uris: ['spiffe://other.latch/ns/a/sa/b'], ips: ['10.100.1.11'] })
  const file = join(pki.dir, 'forged-uri.crt')
  await writeFile(file, forged.certPem)
  const r = await opensslVerify(file)
  t.not(r.exitCode, 0)
  t.regex(`${r.stdout}\n${r.stderr}`, /permitted subtree violation/)
})

test('the node intermediate carries critical name constraints, CA pathlen 0 and certificate-signing key usage', async (t) => {
  const { stdout } = await execa('openssl', ['x509', '-in', pki.node1.caCert, '-noout', '-text'])
  t.regex(stdout, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/)
  t.regex(stdout, /Key Usage: critical\s+Certificate Sign, CRL Sign/)
  t.regex(
    stdout,
    /Name Constraints: critical\s+Permitted:\s+IP:10\.100\.1\.0\/255\.255\.255\.0\s+URI:lab\.latch/,
  )
})

test('a workload SVID has one URI SAN, its IPs, digitalSignature and client+server EKU', async (t) => {
  const leaf = workloadPaths(pki.dir, 'node1', parseSpiffeId(W1)).cert
  const { stdout } = await execa('openssl', ['x509', '-in', leaf, '-noout', '-text'])
  t.regex(stdout, /Basic Constraints: critical\s+CA:FALSE/)
  t.regex(stdout, /Key Usage: critical\s+Digital Signature\n/)
  t.regex(stdout, /Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/)
  t.regex(
    stdout,
    /Subject Alternative Name:\s+URI:spiffe:\/\/lab\.latch\/ns\/lab\/sa\/node1-w1, IP Address:10\.100\.1\.11\n/,
  )
  t.is(stdout.match(/URI:/g)?.length, 1)
})

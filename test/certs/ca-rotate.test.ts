/**
 * Root rotation on the PKI directory: rotate puts a new root first in the bundle (old certificates
 * keep verifying), node renewal issues from the new root, retire refuses while a node is stale and
 * then leaves the new root alone (old-root chains stop verifying).
 */
import { readFile } from 'node:fs/promises'
import test from 'ava'
import { retireCa, rotateCa } from '../../certs/ca-rotate.js'
import { issueNode } from '../../certs/node.js'
import { readNodeInfo } from '../../certs/state.js'
import { verify } from '../../certs/verify.js'
import { issueWorkload } from '../../certs/workload.js'
import { loadCertificates } from '../../certs/x509.js'
import type { LatchError } from '../../daemon/base/errors.js'
import { makePki, type Pki, removeDir, TD, W1 } from './helpers.js'

let pki: Pki
test.before(async () => {
  pki = await makePki()
})
test.after.always(async () => {
  if (pki) await removeDir(pki.dir)
})

const bundle = () => readFile(`${pki.dir}/ca/root.crt`, 'utf8')
const renew = async (node: string) => {
  const { info } = await readNodeInfo(pki.dir, node)
  await issueNode({
    dir: pki.dir,
    node,
    ip: info.underlayIp,
    workloadCidrs: [...info.workloadCidrs],
    force: true,
  })
}

test.serial('the rotation sequence keeps old and new identities verifying until retire', async (t) => {
  const oldNode = await readFile(pki.node1.cert, 'utf8')
  const { serial } = await rotateCa({ dir: pki.dir })
  const roots = await loadCertificates(`${pki.dir}/ca/root.crt`)
  t.is(roots.length, 2)
  t.is(roots[0]?.serialNumber, serial)
  t.not(roots[0]?.subject, roots[1]?.subject, 'the new root has its own name')
  // step 1: everything issued before still verifies against the two-root bundle
  t.true(verify(oldNode, { roots: await bundle(), trustDomain: TD }, { kind: 'node' }).ok)
  t.true(verify(pki.w1.chainPem, { roots: await bundle(), trustDomain: TD }).ok)
  // a second rotation in the middle of one is refused
  const again = await t.throwsAsync(rotateCa({ dir: pki.dir }))
  t.is((again as LatchError).code, 'LATCH_ERR_PKI_ROTATION')
  // step 2: node1 re-issued from the new root; node2 not yet — retire refuses and names node2
  await renew('node1')
  const newNode = await readFile(pki.node1.cert, 'utf8')
  const v = verify(newNode, { roots: await bundle(), trustDomain: TD }, { kind: 'node' })
  t.true(v.ok)
  if (v.ok) t.is(v.chain.at(-1)?.serialNumber.toLowerCase(), serial.toLowerCase())
  const stale = await t.throwsAsync(retireCa({ dir: pki.dir }))
  t.is((stale as LatchError).code, 'LATCH_ERR_PKI_ROTATION')
  t.regex(stale?.message ?? '', /node2/)
  t.notRegex(stale?.message ?? '', /node1 /)
  await renew('node2')
  // step 3: retire; the new chains verify, the old ones do not
  const { retired } = await retireCa({ dir: pki.dir })
  t.is(retired.length, 1)
  t.is((await loadCertificates(`${pki.dir}/ca/root.crt`)).length, 1)
  t.true(verify(newNode, { roots: await bundle(), trustDomain: TD }, { kind: 'node' }).ok)
  const old = verify(oldNode, { roots: await bundle(), trustDomain: TD }, { kind: 'node' })
  t.false(old.ok)
  if (!old.ok) t.is(old.reason, 'unknown_issuer')
  const w = await issueWorkload({ dir: pki.dir, spiffeId: W1, node: 'node1', ips: ['10.100.1.11'] })
  t.true(verify(w.chainPem, { roots: await bundle(), trustDomain: TD }).ok)
})

test.serial('retire with one root is refused: nothing to retire', async (t) => {
  const err = await t.throwsAsync(retireCa({ dir: pki.dir }))
  t.is((err as LatchError).code, 'LATCH_ERR_PKI_ROTATION')
})

/**
 * latchctl ca/node/identity end to end, and a table of bad inputs: each must exit with its registry
 * code, print the LATCH_ERR_ code on stderr, and leave the PKI directory byte-for-byte as it was.
 */
import { chmod, cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { ERRORS, type ErrorCode } from '../../daemon/base/errors.js'
import { forgeOnNode1, hashDir, makePki, type Pki, removeDir, TD, tempDir, W1 } from '../certs/helpers.js'
import { latchctl } from './run.js'

let base: Pki
let scratch: string

test.before(async () => {
  base = await makePki()
  scratch = await tempDir('latch-cli-test-')
})

test.after.always(async () => {
  if (base) await removeDir(base.dir)
  if (scratch) await removeDir(scratch)
})

/** A private copy of the base PKI for one test. */
async function copyOfBase(name: string): Promise<string> {
  const dir = join(scratch, name)
  await cp(base.dir, dir, { recursive: true })
  return dir
}

test('ca init, node issue and identity issue write the documented files with private keys 0600', async (t) => {
  const dir = join(scratch, 'fresh')
  const ca = await latchctl(['ca', 'init', '--trust-domain', 'demo.latch', '--dir', dir])
  t.is(ca.exitCode, 0, ca.stderr)
  t.deepEqual(
    ca.stdout.trim().split('\n'),
    ['root.crt', 'root.key', 'trust-domain'].map((f) => `wrote ${dir}/ca/${f}`),
  )
  const node = await latchctl([
    'node',
    'issue',
    'n1',
    '--ip',
    '192.0.2.1',
    '--workload-cidr',
    '10.7.0.0/16',
    '--workload-cidr',
    'fd07::/64',
    '--dir',
    dir,
  ])
  t.is(node.exitCode, 0, node.stderr)
  t.regex(node.stdout, /wrote .*\/nodes\/n1\/ca\.key/)
  const id = await latchctl(
    [
      'identity',
      'issue',
      'spiffe://demo.latch/ns/x/sa/y',
      '--node',
      'n1',
      '--ip',
      '10.7.1.2',
      '--ip',
      'fd07::2',
      '--ttl',
      '30m',
    ],
    { LATCH_PKI_DIR: dir },
  )
  t.is(id.exitCode, 0, id.stderr)
  const wdir = join(dir, 'nodes/n1/workloads/ns/x/sa/y')
  t.deepEqual(
    id.stdout.trim().split('\n'),
    ['svid.crt', 'svid.key', 'chain.pem'].map((f) => `wrote ${wdir}/${f}`),
  )
  for (const key of [
    'ca/root.key',
    'nodes/n1/node.key',
    'nodes/n1/ca.key',
    'nodes/n1/workloads/ns/x/sa/y/svid.key',
  ]) {
    t.is((await stat(join(dir, key))).mode & 0o777, 0o600, key)
  }
  t.deepEqual(JSON.parse(await readFile(join(dir, 'nodes/n1/node.json'), 'utf8')), {
    node: 'n1',
    underlayIp: '192.0.2.1',
    workloadCidrs: ['10.7.0.0/16', 'fd07::/64'],
  })
  const inspect = await latchctl(['identity', 'inspect', join(wdir, 'svid.crt'), '--json', '--dir', dir])
  t.is(inspect.exitCode, 0, inspect.stderr)
  const report = JSON.parse(inspect.stdout)
  t.is(report.spiffeId, 'spiffe://demo.latch/ns/x/sa/y')
  t.deepEqual(report.ips, ['10.7.1.2', 'fd07::2'])
  t.true(report.verification.ok)
  const lifetime = Date.parse(report.notAfter) - Date.parse(report.notBefore)
  t.true(lifetime > 30 * 60_000 && lifetime <= 31 * 60_000, `30m ttl (+1m backdating), got ${lifetime}ms`)
})

test('ca init --force replaces the CA, node issue --force re-issues a node', async (t) => {
  const dir = await copyOfBase('force')
  const before = await readFile(join(dir, 'ca/root.crt'), 'utf8')
  t.is((await latchctl(['ca', 'init', '--trust-domain', TD, '--dir', dir, '--force'])).exitCode, 0)
  t.not(await readFile(join(dir, 'ca/root.crt'), 'utf8'), before)
  const r = await latchctl([
    'node',
    'issue',
    'node1',
    '--ip',
    '10.99.0.11',
    '--workload-cidr',
    '10.100.1.0/24',
    '--dir',
    dir,
    '--force',
  ])
  t.is(r.exitCode, 0, r.stderr)
})

test('identity inspect shows identity, chain and verification as text', async (t) => {
  const r = await latchctl([
    'identity',
    'inspect',
    join(base.dir, 'nodes/node1/workloads/ns/lab/sa/node1-w1/chain.pem'),
    '--dir',
    base.dir,
  ])
  t.is(r.exitCode, 0, r.stderr)
  t.regex(r.stdout, /spiffe id:\s+spiffe:\/\/lab\.latch\/ns\/lab\/sa\/node1-w1/)
  t.regex(r.stdout, /\[1\] CN=latch node CA node1.*\(CA\).*permits 10\.100\.1\.0\/24, URI lab\.latch/)
  t.regex(r.stdout, /verified:\s+ok: /)
})

interface BadCase {
  args: (dir: string) => string[]
  code: ErrorCode | 'usage'
  /** Changes made to the private PKI copy before the command runs (and before the digest). */
  prepare?: (dir: string) => Promise<void>
  /** Run against an empty directory instead of a PKI. */
  empty?: boolean
}

const issue =
  (id: string, ...rest: string[]) =>
  (dir: string) => ['identity', 'issue', id, '--node', 'node1', '--dir', dir, ...rest]
const nodeIssue =
  (name: string, ...rest: string[]) =>
  (dir: string) => ['node', 'issue', name, '--dir', dir, ...rest]
const ok = ['--ip', '10.100.1.20']

const bad: Array<[string, BadCase]> = [
  [
    'ca init with an uppercase trust domain',
    {
      args: (d) => ['ca', 'init', '--trust-domain', 'Lab.Latch', '--dir', d],
      code: 'LATCH_ERR_SPIFFE_MALFORMED',
      empty: true,
    },
  ],
  [
    'ca init with a trust domain that has a port',
    {
      args: (d) => ['ca', 'init', '--trust-domain', 'lab.latch:443', '--dir', d],
      code: 'LATCH_ERR_SPIFFE_MALFORMED',
      empty: true,
    },
  ],
  [
    'ca init over an existing CA without --force',
    { args: (d) => ['ca', 'init', '--trust-domain', TD, '--dir', d], code: 'LATCH_ERR_PKI_CA_EXISTS' },
  ],
  [
    'ca init into a path below a regular file',
    {
      args: (d) => ['ca', 'init', '--trust-domain', TD, '--dir', join(d, 'ca/root.crt/x')],
      code: 'LATCH_ERR_PKI_WRITE_FAILED',
    },
  ],
  [
    'node issue with an invalid node name',
    {
      args: nodeIssue('Node_3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.3.0/24'),
      code: 'LATCH_ERR_PKI_BAD_NAME',
    },
  ],
  [
    'node issue with a bad underlay IP',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.300', '--workload-cidr', '10.100.3.0/24'),
      code: 'LATCH_ERR_NET_BAD_IP',
    },
  ],
  [
    'node issue with host bits set in a CIDR',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.3.7/24'),
      code: 'LATCH_ERR_NET_BAD_CIDR',
    },
  ],
  [
    'node issue with a garbage CIDR',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', 'banana'),
      code: 'LATCH_ERR_NET_BAD_CIDR',
    },
  ],
  [
    'node issue with a prefix longer than 32',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.3.0/33'),
      code: 'LATCH_ERR_NET_BAD_CIDR',
    },
  ],
  [
    'node issue over an existing node without --force',
    {
      args: nodeIssue('node1', '--ip', '10.99.0.11', '--workload-cidr', '10.100.1.0/24'),
      code: 'LATCH_ERR_PKI_NODE_EXISTS',
    },
  ],
  [
    'node issue with a CIDR overlapping another node',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.0.0/16'),
      code: 'LATCH_ERR_PKI_CIDR_OVERLAP',
    },
  ],
  [
    'node issue without a CA',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.3.0/24'),
      code: 'LATCH_ERR_PKI_CA_MISSING',
      empty: true,
    },
  ],
  [
    'node issue with a world-readable root key',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.3.0/24'),
      code: 'LATCH_ERR_PKI_KEY_PERMISSIONS',
      prepare: (d) => chmod(join(d, 'ca/root.key'), 0o644),
    },
  ],
  [
    'node issue with a bad --ttl',
    {
      args: nodeIssue('node3', '--ip', '10.99.0.13', '--workload-cidr', '10.100.3.0/24', '--ttl', '-5d'),
      code: 'LATCH_ERR_PKI_BAD_TTL',
    },
  ],
  [
    'identity issue with an empty path segment',
    { args: issue(`spiffe://${TD}/ns//sa/x`, ...ok), code: 'LATCH_ERR_SPIFFE_MALFORMED' },
  ],
  [
    'identity issue with a dot-dot segment',
    { args: issue(`spiffe://${TD}/ns/../sa/x`, ...ok), code: 'LATCH_ERR_SPIFFE_MALFORMED' },
  ],
  [
    'identity issue with an uppercase scheme',
    { args: issue(`SPIFFE://${TD}/ns/a/sa/x`, ...ok), code: 'LATCH_ERR_SPIFFE_MALFORMED' },
  ],
  [
    'identity issue with a query string',
    { args: issue(`spiffe://${TD}/ns/a?sa=x`, ...ok), code: 'LATCH_ERR_SPIFFE_MALFORMED' },
  ],
  [
    'identity issue with a trust-domain-only ID',
    { args: issue(`spiffe://${TD}`, ...ok), code: 'LATCH_ERR_SPIFFE_MALFORMED' },
  ],
  [
    'identity issue in another trust domain',
    { args: issue('spiffe://other.latch/ns/a/sa/x', ...ok), code: 'LATCH_ERR_SPIFFE_WRONG_TRUST_DOMAIN' },
  ],
  [
    'identity issue for a reserved node ID',
    { args: issue(`spiffe://${TD}/latch/node/node2`, ...ok), code: 'LATCH_ERR_PKI_RESERVED_ID' },
  ],
  [
    'identity issue with an IP outside the node CIDRs',
    { args: issue(W1, '--ip', '10.100.1.11', '--ip', '10.100.2.11'), code: 'LATCH_ERR_PKI_IP_OUTSIDE_NODE' },
  ],
  ['identity issue with a bad IP', { args: issue(W1, '--ip', '10.100.1'), code: 'LATCH_ERR_NET_BAD_IP' }],
  [
    'identity issue with an IP with a zone',
    { args: issue(W1, '--ip', 'fe80::1%eth0'), code: 'LATCH_ERR_NET_BAD_IP' },
  ],
  [
    'identity issue for an unknown node',
    {
      args: (d) => ['identity', 'issue', W1, '--node', 'node9', '--ip', '10.100.1.11', '--dir', d],
      code: 'LATCH_ERR_PKI_NODE_UNKNOWN',
    },
  ],
  ['identity issue without a CA', { args: issue(W1, ...ok), code: 'LATCH_ERR_PKI_CA_MISSING', empty: true }],
  [
    'identity issue with a garbage --ttl',
    { args: issue(W1, ...ok, '--ttl', 'soon'), code: 'LATCH_ERR_PKI_BAD_TTL' },
  ],
  [
    'identity issue with a zero --ttl',
    { args: issue(W1, ...ok, '--ttl', '0s'), code: 'LATCH_ERR_PKI_BAD_TTL' },
  ],
  [
    'identity issue with a --ttl above the maximum',
    { args: issue(W1, ...ok, '--ttl', '90d'), code: 'LATCH_ERR_PKI_BAD_TTL' },
  ],
  [
    'identity issue with a missing node CA key',
    {
      args: issue(W1, ...ok),
      code: 'LATCH_ERR_PKI_KEY_UNREADABLE',
      prepare: (d) => rm(join(d, 'nodes/node1/ca.key')),
    },
  ],
  [
    'identity issue with a node CA key that is not a key',
    {
      args: issue(W1, ...ok),
      code: 'LATCH_ERR_PKI_KEY_UNREADABLE',
      prepare: (d) => writeFile(join(d, 'nodes/node1/ca.key'), 'garbage\n', { mode: 0o600 }),
    },
  ],
  [
    'identity issue with a world-readable node CA key',
    {
      args: issue(W1, ...ok),
      code: 'LATCH_ERR_PKI_KEY_PERMISSIONS',
      prepare: (d) => chmod(join(d, 'nodes/node1/ca.key'), 0o604),
    },
  ],
  [
    'identity issue with a damaged node.json',
    {
      args: issue(W1, ...ok),
      code: 'LATCH_ERR_PKI_STATE_CORRUPT',
      prepare: (d) => writeFile(join(d, 'nodes/node1/node.json'), '{'),
    },
  ],
  [
    'identity issue without --ip',
    { args: (d) => ['identity', 'issue', W1, '--node', 'node1', '--dir', d], code: 'LATCH_ERR_NET_BAD_IP' },
  ],
  [
    'node issue without --workload-cidr',
    { args: nodeIssue('node3', '--ip', '10.99.0.13'), code: 'LATCH_ERR_NET_BAD_CIDR' },
  ],
  [
    'node issue without --ip',
    { args: nodeIssue('node3', '--workload-cidr', '10.100.3.0/24'), code: 'usage' },
  ],
  [
    'identity inspect of a file that is not a certificate',
    {
      args: (d) => ['identity', 'inspect', join(d, 'nodes/node1/node.json'), '--dir', d],
      code: 'LATCH_ERR_PKI_CERT_UNREADABLE',
    },
  ],
  [
    'identity inspect of a missing file',
    {
      args: (d) => ['identity', 'inspect', join(d, 'nope.pem'), '--dir', d],
      code: 'LATCH_ERR_PKI_CERT_UNREADABLE',
    },
  ],
  [
    'identity inspect of a forged out-of-constraint certificate',
    {
      args: (d) => ['identity', 'inspect', join(d, 'forged.pem'), '--dir', d],
      code: 'LATCH_ERR_CERT_INVALID',
      prepare: async (d) => {
        const f = await forgeOnNode1(
          {
            ...base,
            node1: {
              ...base.node1,
              caCert: join(d, 'nodes/node1/ca.crt'),
              caKey: join(d, 'nodes/node1/ca.key'),
            },
          },
          { uris: [W1], ips: ['10.100.2.11'] },
        )
        await writeFile(join(d, 'forged.pem'), f.certPem)
      },
    },
  ],
]

for (const [i, [what, c]] of bad.entries()) {
  const expected = c.code === 'usage' ? 64 : ERRORS[c.code].exit
  test(`${what} fails with ${c.code === 'usage' ? 'a usage error' : c.code} (exit ${expected}) and changes nothing on disk`, async (t) => {
    let dir: string
    if (c.empty) {
      dir = join(scratch, `empty-${i}`)
      await mkdir(dir)
    } else {
      dir = await copyOfBase(`case-${i}`)
    }
    await c.prepare?.(dir)
    const before = await hashDir(dir)
    const r = await latchctl(c.args(dir))
    t.is(r.exitCode, expected, r.stderr)
    if (c.code !== 'usage') {
      t.true(r.stderr.startsWith(`error ${c.code}: `), r.stderr)
      t.regex(r.stderr, /\n {2}fix: \S/)
    }
    t.is(await hashDir(dir), before, 'the PKI directory is unchanged')
  })
}

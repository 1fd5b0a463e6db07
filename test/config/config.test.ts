import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { stringify } from 'yaml'
import { isLatchError } from '../../daemon/base/errors.js'
import { loadConfig, parseConfig } from '../../daemon/config/index.js'

function base(): Record<string, unknown> {
  return {
    node: 'node1',
    trustDomain: 'lab.latch',
    pki: {
      caFile: '/pki/ca/root.crt',
      certFile: '/pki/nodes/node1/node.crt',
      keyFile: '/pki/nodes/node1/node.key',
      intermediateCertFile: '/pki/nodes/node1/ca.crt',
      intermediateKeyFile: '/pki/nodes/node1/ca.key',
    },
    listen: { address: '10.99.0.11', port: 7443 },
    workloadCidrs: ['10.100.1.0/24'],
    wireguard: {
      interface: 'latch0',
      listenPort: 51820,
      address: '10.101.0.1/32',
      privateKeyFile: '/run/wg.key',
    },
    peersFile: '/run/peers.yaml',
    controlSocket: '/run/latchd.sock',
    workloads: [{ id: 'spiffe://lab.latch/ns/lab/sa/node1-w1', ips: ['10.100.1.11'], interface: 'lw1' }],
    rekeyInterval: '120s',
    log: { level: 'info' },
  }
}

function withChange(path: string, value: unknown): Record<string, unknown> {
  const c = base()
  const keys = path.split('.')
  let o: Record<string, unknown> = c
  for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>
  const last = keys.at(-1)!
  if (value === undefined) delete o[last]
  else o[last] = value
  return c
}

test('the contract example parses, with defaults filled in and the result frozen', (t) => {
  const c = parseConfig(base(), '/etc/latch/latchd.yaml')
  t.is(c.rekeyInterval, 120_000)
  t.is(c.peerGracePeriod, 180_000)
  t.is(c.wireguard.backend, 'auto')
  t.is(c.listen.port, 7443)
  t.true(Object.isFrozen(c))
  t.true(Object.isFrozen(c.wireguard))
  t.true(Object.isFrozen(c.workloads[0]))
  t.throws(() => {
    ;(c as { node: string }).node = 'x'
  })
})

test('defaults apply to every optional key', (t) => {
  const doc = base()
  for (const key of ['controlSocket', 'rekeyInterval', 'log', 'workloads']) delete doc[key]
  doc['listen'] = { address: '10.99.0.11' }
  doc['wireguard'] = { address: '10.101.0.1/32', privateKeyFile: '/run/wg.key' }
  const c = parseConfig(doc, '/x.yaml')
  t.is(c.controlSocket, '/run/latch/latchd.sock')
  t.is(c.rekeyInterval, 120_000)
  t.is(c.log.level, 'info')
  t.deepEqual(c.workloads, [])
  t.is(c.listen.port, 7443)
  t.is(c.wireguard.interface, 'latch0')
  t.is(c.wireguard.listenPort, 51820)
})

test('relative paths are resolved against the config file directory', (t) => {
  const c = parseConfig(withChange('peersFile', 'peers.yaml'), '/run/latch-lab/node1/latchd.yaml')
  t.is(c.peersFile, '/run/latch-lab/node1/peers.yaml')
})

test('durations accept units and bare seconds', (t) => {
  t.is(parseConfig(withChange('rekeyInterval', '3s'), '/x').rekeyInterval, 3000)
  t.is(parseConfig(withChange('rekeyInterval', '2m'), '/x').rekeyInterval, 120_000)
  t.is(parseConfig(withChange('rekeyInterval', 5), '/x').rekeyInterval, 5000)
  t.is(parseConfig(withChange('rekeyInterval', '1500ms'), '/x').rekeyInterval, 1500)
})

function withEtcd(etcd: Record<string, unknown>): Record<string, unknown> {
  const c = withChange('peersFile', undefined)
  c['etcd'] = etcd
  return c
}
const etcdBlock = {
  endpoints: ['https://10.99.0.2:2379', 'https://10.99.0.3:2379'],
  caFile: 'etcd/ca.crt',
  certFile: 'etcd/node1.crt',
  keyFile: 'etcd/node1.key',
}

test('etcd discovery replaces the peers file, with the prefix and lease TTL defaulted and paths resolved', (t) => {
  const c = parseConfig(withEtcd(etcdBlock), '/etc/latch/latchd.yaml')
  t.is(c.peersFile, undefined)
  t.deepEqual(c.etcd, {
    endpoints: ['https://10.99.0.2:2379', 'https://10.99.0.3:2379'],
    caFile: '/etc/latch/etcd/ca.crt',
    certFile: '/etc/latch/etcd/node1.crt',
    keyFile: '/etc/latch/etcd/node1.key',
    prefix: '/latch/nodes/',
    leaseTtl: 10_000,
  })
  t.is(parseConfig(withEtcd({ ...etcdBlock, leaseTtl: '30s', prefix: '/x/' }), '/x').etcd?.leaseTtl, 30_000)
})

const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
  [
    'no discovery at all',
    withChange('peersFile', undefined),
    'peersFile',
    /give one discovery: peersFile .* or etcd/,
  ],
  ['both discoveries', { ...withEtcd(etcdBlock), peersFile: '/p.yaml' }, 'etcd', /two discovery backends/],
  [
    'a plain-HTTP etcd endpoint',
    withEtcd({ ...etcdBlock, endpoints: ['http://10.99.0.2:2379'] }),
    'etcd.endpoints[0]',
    /requires TLS/,
  ],
  ['no etcd endpoints', withEtcd({ ...etcdBlock, endpoints: [] }), 'etcd.endpoints', /at least one/],
  ['an etcd block without TLS files', withEtcd({ endpoints: ['https://a:2379'] }), 'etcd.caFile', /required/],
  [
    'an etcd prefix without a trailing slash',
    withEtcd({ ...etcdBlock, prefix: '/latch' }),
    'etcd.prefix',
    /ends with/,
  ],
  ['an etcd lease TTL below 2s', withEtcd({ ...etcdBlock, leaseTtl: '1s' }), 'etcd.leaseTtl', /between 2s/],
  ['an unknown top-level key', withChange('nodes', 'x'), 'nodes', /unknown key/],
  ['an unknown nested key', withChange('wireguard.mtu', 1420), 'wireguard.mtu', /unknown key/],
  ['a misspelt pki key', withChange('pki.caFil', '/x'), 'pki.caFil', /unknown key/],
  ['a missing node', withChange('node', undefined), 'node', /required/],
  ['a missing pki block', withChange('pki', undefined), 'pki', /required/],
  ['an uppercase node name', withChange('node', 'Node1'), 'node', /node name/],
  ['a bad trust domain', withChange('trustDomain', 'Lab.Latch'), 'trustDomain', /lowercase/],
  [
    'a listen address that is not an IP',
    withChange('listen.address', 'node1.local'),
    'listen.address',
    /IPv4 or IPv6/,
  ],
  ['a short IPv4 form', withChange('listen.address', '10.1'), 'listen.address', /IPv4 or IPv6/],
  ['a port out of range', withChange('listen.port', 70000), 'listen.port', /1-65535/],
  ['a port given as a string', withChange('wireguard.listenPort', '51820'), 'wireguard.listenPort', /number/],
  ['a CIDR with host bits', withChange('workloadCidrs', ['10.100.1.5/24']), 'workloadCidrs[0]', /host bits/],
  [
    'a tunnel address without prefix',
    withChange('wireguard.address', '10.101.0.1'),
    'wireguard.address',
    /prefix/,
  ],
  [
    'an unknown backend',
    withChange('wireguard.backend', 'ipsec'),
    'wireguard.backend',
    /auto.*kernel.*userspace/,
  ],
  [
    'a too long interface name',
    withChange('wireguard.interface', 'latch-wireguard0'),
    'wireguard.interface',
    /1-15/,
  ],
  ['a rekey interval without unit', withChange('rekeyInterval', 'soon'), 'rekeyInterval', /duration/],
  ['a rekey interval below a second', withChange('rekeyInterval', '100ms'), 'rekeyInterval', /between 1s/],
  [
    'a malformed workload ID',
    withChange('workloads', [{ id: 'web', ips: ['10.100.1.11'] }]),
    'workloads[0].id',
    /spiffe:\/\//,
  ],
  [
    'a workload IP outside workloadCidrs',
    withChange('workloads', [{ id: 'spiffe://lab.latch/ns/a/sa/b', ips: ['10.100.2.11'] }]),
    'workloads[0].ips[0]',
    /not inside/,
  ],
  [
    'a workload in another trust domain',
    withChange('workloads', [{ id: 'spiffe://other.td/ns/a/sa/b', ips: ['10.100.1.11'] }]),
    'workloads[0].id',
    /trust domain/,
  ],
  ['an unknown log level', withChange('log.level', 'verbose'), 'log.level', /trace/],
  [
    'a conntrack timeout below a second',
    withChange('datapath', { conntrack: { udp: '100ms' } }),
    'datapath.conntrack.udp',
    /must be between 1s and 7d, got 100ms/,
  ],
  [
    'a conntrack timeout without unit',
    withChange('datapath', { conntrack: { tcpEstablished: 'long' } }),
    'datapath.conntrack.tcpEstablished',
    /duration/,
  ],
  [
    'an unknown conntrack key',
    withChange('datapath', { conntrack: { tcp: '1m' } }),
    'datapath.conntrack.tcp',
    /unknown key/,
  ],
  [
    'metrics on the handshake port',
    withChange('metrics', { address: '10.99.0.11', port: 7443 }),
    'metrics.port',
    /share/,
  ],
]

for (const [name, doc, key, message] of bad) {
  test(`rejects ${name}, naming ${key}`, (t) => {
    const err = t.throws(() => parseConfig(doc, '/etc/latch/latchd.yaml'))
    t.true(isLatchError(err, 'LATCH_ERR_CONFIG_INVALID'), String(err))
    const issues = (err as unknown as { details: { issues: Array<{ key: string; message: string }> } })
      .details.issues
    const hit = issues.find((i) => i.key === key)
    t.truthy(hit, `issues: ${JSON.stringify(issues)}`)
    t.regex(hit!.message, message)
    t.true(err!.message.includes(key))
  })
}

test('a missing file is LATCH_ERR_CONFIG_MISSING, an unparsable one LATCH_ERR_CONFIG_INVALID with the line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-cfg-'))
  try {
    const missing = await t.throwsAsync(loadConfig(join(dir, 'nope.yaml')))
    t.true(isLatchError(missing, 'LATCH_ERR_CONFIG_MISSING'))
    const broken = join(dir, 'broken.yaml')
    await writeFile(broken, 'node: node1\nlisten: {address: 10.0.0.1\n')
    const invalid = await t.throwsAsync(loadConfig(broken))
    t.true(isLatchError(invalid, 'LATCH_ERR_CONFIG_INVALID'))
    t.regex(invalid!.message, /line \d+/)
    const dup = join(dir, 'dup.yaml')
    await writeFile(dup, 'node: node1\nnode: node2\n')
    t.true(isLatchError(await t.throwsAsync(loadConfig(dup)), 'LATCH_ERR_CONFIG_INVALID'))
    const good = join(dir, 'good.yaml')
    await writeFile(good, stringify(base()))
    t.is((await loadConfig(good)).node, 'node1')
    const json = join(dir, 'good.json')
    await writeFile(json, JSON.stringify(base()))
    t.is((await loadConfig(json)).wireguard.interface, 'latch0')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

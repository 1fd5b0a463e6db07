/**
 * latch-cni against the CNI spec 1.0.0, as a runtime calls it: the built binary with CNI_* in its
 * environment and the configuration on stdin. Errors are CNI error objects on stdout with the
 * spec's codes and a non-zero exit. (ADD/CHECK/DEL against a running latchd and the real ptp +
 * host-local chain: test/e2e/cni.test.ts.)
 */
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'

const PLUGIN = join(process.cwd(), 'dist', 'cni-bin', 'latch-cni')
const MISSING_SOCKET = '/run/latch-cni-test-no-such/latchd.sock'

const prevResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'veth1234' }, { name: 'eth0', sandbox: '/run/netns/c1' }],
  ips: [{ address: '10.100.2.100/24', gateway: '10.100.2.1', interface: 1 }],
}

function conf(extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.0.0',
    name: 'test-net',
    type: 'latch-cni',
    controlSocket: MISSING_SOCKET,
    identity: { template: 'spiffe://lab.latch/ns/{namespace}/sa/{name}' },
    prevResult,
    ...extra,
  }
}

const ENV = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/c1',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web',
  CNI_PATH: '/usr/lib/cni',
}

async function run(command: string | undefined, stdin: unknown, env: Record<string, string> = ENV) {
  const r = await execa(PLUGIN, [], {
    input: typeof stdin === 'string' ? stdin : JSON.stringify(stdin),
    env: { ...env, ...(command !== undefined && { CNI_COMMAND: command }), PATH: process.env.PATH ?? '' },
    extendEnv: false,
    reject: false,
  })
  const out = r.stdout.trim()
  return {
    exitCode: r.exitCode,
    stdout: out,
    json: out ? (JSON.parse(out) as Record<string, unknown>) : undefined,
  }
}

test('VERSION names the versions whose results it reads', async (t) => {
  const r = await run('VERSION', { cniVersion: '1.0.0' })
  t.is(r.exitCode, 0)
  t.deepEqual(r.json, { cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0'] })
})

const errors: Array<[string, string | undefined, unknown, number, RegExp, Record<string, string>?]> = [
  ['no CNI_COMMAND is code 4', undefined, conf(), 4, /CNI_COMMAND/],
  ['an unknown CNI_COMMAND is code 4', 'FROB', conf(), 4, /not ADD, DEL, CHECK or VERSION/],
  ['a configuration that is not JSON is code 6', 'ADD', '{nope', 6, /not JSON/],
  ['an unsupported cniVersion is code 1', 'ADD', conf({ cniVersion: '0.3.1' }), 1, /0\.4\.0, 1\.0\.0/],
  ['an unknown field is code 2', 'ADD', conf({ colour: 'blue' }), 2, /colour/],
  ['a bad readyTimeout is code 7', 'ADD', conf({ readyTimeout: '10 years' }), 7, /readyTimeout/],
  [
    'ADD without prevResult (not chained) is code 7',
    'ADD',
    conf({ prevResult: undefined }),
    7,
    /chained plugin/,
  ],
  [
    'ADD with no IP for CNI_IFNAME in prevResult is code 7',
    'ADD',
    conf({ prevResult: { ...prevResult, ips: [{ address: '10.100.2.100/24', interface: 0 }] } }),
    7,
    /no IP for eth0/,
  ],
  ['ADD without CNI_NETNS is code 4', 'ADD', conf(), 4, /CNI_NETNS/, { ...ENV, CNI_NETNS: '' }],
  [
    'ADD with no matching identity rule is code 102',
    'ADD',
    conf({ identity: { rules: [{ namespace: 'other', spiffeId: 'spiffe://lab.latch/x' }] } }),
    102,
    /no identity rule matched/,
  ],
  [
    'ADD where the netns has no such interface is code 3',
    'ADD',
    conf(),
    3,
    /cannot find the host side of eth0/,
  ],
  ['CHECK with latchd down is code 11', 'CHECK', conf(), 11, /latchd is not reachable/],
]

for (const [title, command, stdin, code, msg, env] of errors) {
  test(title, async (t) => {
    const r = await run(command, stdin, env)
    t.is(r.exitCode, 1)
    t.is(r.json?.code, code, r.stdout)
    t.regex(String(r.json?.msg), msg)
    t.is(typeof r.json?.cniVersion, 'string')
  })
}

test('DEL is idempotent: with nothing registered and latchd down it still succeeds, printing nothing', async (t) => {
  for (let i = 0; i < 2; i++) {
    const r = await run('DEL', conf({ prevResult: undefined }))
    t.is(r.exitCode, 0, r.stdout)
    t.is(r.stdout, '')
  }
})

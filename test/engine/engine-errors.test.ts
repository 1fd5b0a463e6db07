import { writeFileSync } from 'node:fs'
import test from 'ava'
import { createEngine, type PeerSession } from '../../daemon/engine/index.js'
import type { RunOptions, RunResult } from '../../daemon/transport/runner.js'
import { fakeHost, session, silent } from './helpers/setup.js'

const badPeers: Array<[string, Partial<PeerSession>, string]> = [
  ['an empty name', { name: '' }, 'name'],
  ['a public key that is not base64 of 32 bytes', { wgPublicKey: 'abc' }, 'wgPublicKey'],
  [
    'a preshared key of the wrong length',
    { presharedKey: Buffer.alloc(16).toString('base64') },
    'presharedKey',
  ],
  ['an endpoint without a port', { endpoint: '10.99.0.12' }, 'endpoint'],
  ['an endpoint with a host name', { endpoint: 'node2:51820' }, 'endpoint'],
  ['a port out of range', { endpoint: '10.99.0.12:70000' }, 'endpoint'],
  ['a tunnel address that is no address', { tunnelAddress: 'ten' }, 'tunnelAddress'],
  ['a workload CIDR with host bits', { workloadCidrs: ['10.100.2.7/24'] }, 'workloadCidrs'],
  ['a workload CIDR that is no CIDR', { workloadCidrs: ['10.100.2.0'] }, 'workloadCidrs'],
]

for (const [what, override, field] of badPeers) {
  test(`a peer session with ${what} is refused naming ${field}`, (t) => {
    const { wg, nl, options } = fakeHost()
    const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl })
    const err = t.throws(() => engine.upsertPeer(session(2, override)), {
      code: 'LATCH_ERR_ENGINE_BAD_PEER',
    } as never)
    t.regex(err?.message ?? '', new RegExp(field))
    t.is(wg.transcript.length, 0)
  })
}

test('two peer names with one WireGuard key are refused', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl })
  const p2 = session(2)
  engine.upsertPeer(p2)
  t.throws(() => engine.upsertPeer(session(3, { wgPublicKey: p2.wgPublicKey })), {
    code: 'LATCH_ERR_ENGINE_BAD_PEER',
  } as never)
})

test('IPv6 endpoints and prefixes are written the way wg prints them', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl, coalesceMs: 1 })
  await engine.start()
  const p = session(2, {
    endpoint: '[fd00:0::12]:51820',
    tunnelAddress: 'fd01::2/64',
    workloadCidrs: ['fd02:0:0:2::/64'],
  })
  engine.upsertPeer(p)
  await engine.flush()
  t.deepEqual(wg.peers.get(p.wgPublicKey)?.allowedIps, ['fd01::2/128', 'fd02:0:0:2::/64'])
  t.is(wg.peers.get(p.wgPublicKey)?.endpoint, '[fd00::12]:51820')
  engine.upsertPeer(p)
  t.false((await engine.flush()).changed)
  await engine.stop()
})

test('a link of that name that wg cannot drive is refused and left alone', async (t) => {
  const { wg, nl, options } = fakeHost()
  nl.addLink('latch0', 'veth')
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl })
  await t.throwsAsync(engine.start(), { code: 'LATCH_ERR_WG_INTERFACE_CONFLICT' } as never)
  t.deepEqual(nl.transcript, [])
  t.is(wg.mutations, 0)
})

test('backend kernel on a kernel without the module fails with a fix, and starts nothing', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({
    wireguard: { ...options, backend: 'kernel' },
    logger: silent,
    runner: wg,
    netlink: nl,
  })
  await t.throwsAsync(engine.start(), { code: 'LATCH_ERR_WG_KERNEL_UNSUPPORTED' } as never)
  t.is(wg.mutations, 0)
})

test('backend auto uses the kernel module when there is one', async (t) => {
  const { wg, nl, options } = fakeHost()
  nl.kernelSupportsWireguard = true
  wg.exists = true // the kernel link answers wg
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl })
  await engine.start()
  t.is(nl.links.get('latch0')?.kind, 'wireguard')
  t.false(wg.transcript.some((l) => l.startsWith('wireguard-go')))
  await engine.stop()
})

test('a missing wireguard-go is reported as such', async (t) => {
  const { nl, options } = fakeHost()
  const runner = {
    run: async (): Promise<RunResult> => ({ stdout: '', stderr: 'spawn wireguard-go ENOENT', exitCode: 127 }),
  }
  const engine = createEngine({ wireguard: options, logger: silent, runner, netlink: nl })
  const err = await t.throwsAsync(engine.start(), { code: 'LATCH_ERR_WG_USERSPACE_FAILED' } as never)
  t.regex(err?.message ?? '', /not installed/)
})

test('a failing wg set rejects flush with the stderr and is retried in the background', async (t) => {
  const { wg, nl, options } = fakeHost()
  let failNext = false
  const runner = {
    run: (cmd: string, args: readonly string[], o?: RunOptions): Promise<RunResult> => {
      if (failNext && args[0] === 'set') {
        failNext = false
        return Promise.resolve({
          stdout: '',
          stderr: 'Unable to modify interface: Protocol error',
          exitCode: 1,
        })
      }
      return wg.run(cmd, args, o)
    },
  }
  const engine = createEngine({ wireguard: options, logger: silent, runner, netlink: nl, coalesceMs: 1 })
  await engine.start()
  failNext = true
  const p = session(2)
  engine.upsertPeer(p)
  const err = await t.throwsAsync(engine.flush(), { code: 'LATCH_ERR_WG_COMMAND_FAILED' } as never)
  t.regex(err?.message ?? '', /Protocol error/)
  t.false(wg.peers.has(p.wgPublicKey))
  await new Promise((r) => setTimeout(r, 1300))
  t.true(wg.peers.has(p.wgPublicKey), 'the retry programmed the peer')
  await engine.stop()
})

test('a key file readable by others is refused before anything is created', async (t) => {
  const { wg, nl, options } = fakeHost()
  writeFileSync(options.privateKeyFile, `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o644 })
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl })
  await t.throwsAsync(engine.start(), { code: 'LATCH_ERR_WG_KEY_PERMISSIONS' } as never)
  t.deepEqual(nl.transcript, [])
  t.is(wg.transcript.length, 0)
})

test('flush before start is a caller bug with its own code', async (t) => {
  const { wg, nl, options } = fakeHost()
  const engine = createEngine({ wireguard: options, logger: silent, runner: wg, netlink: nl })
  await t.throwsAsync(engine.flush(), { code: 'LATCH_ERR_ENGINE_NOT_STARTED' } as never)
})

import { mkdirSync, rmSync } from 'node:fs'
import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { UapiControl, WgToolControl } from '../../daemon/transport/wg-control.js'
import type { WgDeviceState } from '../../daemon/transport/wg-dump.js'
import { parseWgDump } from '../../daemon/transport/wg-dump.js'
import { generatePrivateKey, publicKeyOf } from '../../daemon/transport/wg-key.js'
import {
  planIsEmpty,
  planWireguard,
  type WgDesired,
  type WgPeerConfig,
} from '../../daemon/transport/wg-plan.js'
import { deleteNs, inNode, sh } from '../engine/helpers/netns.js'

/**
 * The UAPI channel against a real wireguard-go (Debian's, in a namespace of its own; its socket
 * dir is bind-mounted so `wg` there finds it, and this process reaches the same socket on the
 * host path): what UAPI programs, `wg show dump` reads back identically, and the other way round.
 */
const NS = 'latch-t-uapi'
const DIR = '/run/latch-t-uapi'
const IF = 'latchu0'
const SOCK = `${DIR}/${IF}.sock`

const dump = async (): Promise<WgDeviceState> =>
  parseWgDump(await inNode(NS, DIR, 'wg', ['show', IF, 'dump']), IF)

const peerOf = (i: number, over: Partial<WgPeerConfig> = {}): WgPeerConfig => ({
  publicKey: publicKeyOf(generatePrivateKey()),
  presharedKey: generatePrivateKey(),
  endpoint: i % 2 === 0 ? `10.98.${i >> 8}.${i & 255}:51820` : `[fd00::${i.toString(16)}]:4000`,
  allowedIps: [`10.100.${i >> 8}.${i & 255}/32`, `10.101.${i >> 8}.${i & 255}/32`].sort(),
  persistentKeepalive: i % 3 === 0 ? 0 : 25,
  ...over,
})

const desiredOf = (privateKey: string, peers: WgPeerConfig[]): WgDesired => ({
  privateKey,
  listenPort: 51999,
  peers: new Map(peers.map((p) => [p.publicKey, p])),
  keep: new Set(),
})

const comparable = (s: WgDeviceState): unknown => ({
  ...s,
  peers: [...s.peers.values()].sort((a, b) => a.publicKey.localeCompare(b.publicKey)),
})

test.before(async () => {
  await deleteNs(NS)
  rmSync(DIR, { recursive: true, force: true })
  mkdirSync(DIR, { recursive: true, mode: 0o700 })
  await sh('ip', ['netns', 'add', NS])
  // wireguard-go daemonizes: the interface and the socket outlive this command
  await inNode(NS, DIR, 'env', ['-u', 'LOG_LEVEL', 'wireguard-go', IF])
})

test.after.always(async () => {
  await deleteNs(NS)
  rmSync(DIR, { recursive: true, force: true })
})

test.serial('UAPI programs what `wg show dump` reads back, and reads what `wg set` programmed', async (t) => {
  const uapi = new UapiControl(IF, SOCK)
  const key = generatePrivateKey()
  const peers = Array.from({ length: 300 }, (_, i) => peerOf(i + 1))
  const want = desiredOf(key, peers)
  await uapi.apply(planWireguard(want, await uapi.read()), want)
  const viaUapi = await uapi.read()
  t.deepEqual(comparable(viaUapi), comparable(await dump()))
  t.is(viaUapi.privateKey, key)
  t.is(viaUapi.listenPort, 51999)
  t.is(viaUapi.peers.size, 300)
  t.true(planIsEmpty(planWireguard(want, viaUapi)), 'nothing left to do after one set')

  // change every field kind, remove some, move a prefix from one peer to another
  const [a, b] = peers as [WgPeerConfig, WgPeerConfig]
  const moved = a.allowedIps[0]!
  const next = [
    { ...a, allowedIps: a.allowedIps.slice(1), presharedKey: generatePrivateKey() },
    { ...b, allowedIps: [...b.allowedIps, moved].sort(), endpoint: '10.98.9.9:1', persistentKeepalive: 7 },
    ...peers.slice(2, 200),
  ]
  const want2 = desiredOf(key, next)
  const plan = planWireguard(want2, viaUapi)
  t.is(plan.remove.length, 100)
  await uapi.apply(plan, want2)
  t.true(planIsEmpty(planWireguard(want2, await uapi.read())))
  t.deepEqual(comparable(await uapi.read()), comparable(await dump()))

  // the other way: `wg set` programs (as the kernel backend does), UAPI reads the same
  const tool = new WgToolControl(IF, { run: (cmd, args) => runInNode(cmd, [...args]) }, `${DIR}/unused.key`)
  const want3 = desiredOf(key, [...next.slice(0, 50), peerOf(999)])
  await tool.apply(planWireguard(want3, await tool.read()), want3)
  t.true(planIsEmpty(planWireguard(want3, await uapi.read())))
  t.deepEqual(comparable(await uapi.read()), comparable(await tool.read()))
})

test.serial(
  'a set wireguard-go refuses is an error naming the errno; the device keeps its state',
  async (t) => {
    const uapi = new UapiControl(IF, SOCK)
    const before = await uapi.read()
    const bad = peerOf(5, { endpoint: 'not-an-endpoint' })
    const want = desiredOf(
      before.privateKey ?? generatePrivateKey(),
      [...before.peers.values()].map(toConfig),
    )
    want.peers.set(bad.publicKey, bad)
    const err = await t.throwsAsync(
      uapi.apply(
        {
          setPrivateKey: false,
          setListenPort: false,
          remove: [],
          changes: [{ peer: bad, isNew: true, fields: ['endpoint'] }],
        },
        want,
      ),
    )
    t.true(isLatchError(err, 'LATCH_ERR_WG_COMMAND_FAILED'), String(err))
    t.regex(err?.message ?? '', /errno -22 \(EINVAL\)/)
    const after = await uapi.read()
    t.is(after.peers.size, before.peers.size + (after.peers.has(bad.publicKey) ? 1 : 0))
    for (const [k, p] of before.peers) t.deepEqual(after.peers.get(k)?.allowedIps, p.allowedIps)
  },
)

function toConfig(p: WgDeviceState['peers'] extends Map<string, infer V> ? V : never): WgPeerConfig {
  return {
    publicKey: p.publicKey,
    presharedKey: p.presharedKey ?? '',
    endpoint: p.endpoint ?? '',
    allowedIps: p.allowedIps,
    persistentKeepalive: p.persistentKeepalive,
  }
}

async function runInNode(
  cmd: string,
  args: string[],
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  try {
    return { stdout: await inNode(NS, DIR, cmd, args), stderr: '', exitCode: 0 }
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; exitCode?: number }
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? String(err), exitCode: e.exitCode ?? 1 }
  }
}

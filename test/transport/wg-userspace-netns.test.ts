import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import test from 'ava'
import { execa } from 'execa'
import type { WireguardOptions } from '../../daemon/engine/index.js'
import { deleteNs, EngineHost, inNs, sh } from '../engine/helpers/netns.js'

/**
 * wireguard.userspaceBinary and wireguard.userspaceOffloads on a real engine and a real
 * wireguard-go in a namespace of its own: which build runs, and the TUN's offload features as
 * ethtool reports them (on: the kernel hands wireguard-go TSO segments; off: MTU-sized packets).
 * The older build (scripts/setup keeps bookworm's) has no virtio-net header, so never offloads.
 */
const NS = 'latch-t-wgoff'
const ROOT = '/run/latch-t-wgoff'
const OLD = '/usr/local/lib/latch/wireguard-go-0.0.20220316/wireguard-go'

const opts = (extra: Partial<WireguardOptions>): WireguardOptions => ({
  interface: 'latch0',
  listenPort: 51820,
  address: '10.101.0.1/32',
  privateKeyFile: `${ROOT}/wg.key`,
  backend: 'userspace',
  ...extra,
})

async function fresh(): Promise<void> {
  await deleteNs(NS)
  rmSync(ROOT, { recursive: true, force: true })
  mkdirSync(`${ROOT}/wireguard`, { recursive: true })
  await sh('ip', ['netns', 'add', NS])
  await inNs(NS, 'ip', ['link', 'set', 'lo', 'up'])
}

async function features(): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const line of (await inNs(NS, 'ethtool', ['-k', 'latch0'])).split('\n')) {
    const m = /^([a-z-]+):\s+(on|off)/.exec(line.trim())
    if (m) out[m[1]!] = m[2]!
  }
  return out
}

/** The executable of the wireguard-go serving the namespace. */
async function wgExe(): Promise<string[]> {
  const pids = (await sh('ip', ['netns', 'pids', NS])).split(/\s+/).filter(Boolean)
  return pids.flatMap((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
      return cmd[0]?.endsWith('wireguard-go') ? [cmd[0]] : []
    } catch {
      return []
    }
  })
}

async function startEngine(extra: Partial<WireguardOptions>): Promise<EngineHost> {
  await fresh()
  const h = new EngineHost(NS, `${ROOT}/wireguard`)
  await h.call('start', { wireguard: opts(extra) })
  return h
}

test.after.always(async () => {
  await deleteNs(NS)
  rmSync(ROOT, { recursive: true, force: true })
})

test.serial('default: wireguard-go on PATH, TUN TSO and checksum offload on', async (t) => {
  const h = await startEngine({})
  try {
    t.deepEqual(await wgExe(), ['wireguard-go'])
    const f = await features()
    const v = (await execa('wireguard-go', ['--version'])).stdout
    // bookworm's 0.0.20220316 has no offload support; scripts/setup installs the backport
    t.true(/v0\.0\.2023/.test(v), v)
    t.is(f['tcp-segmentation-offload'], 'on')
    t.is(f['tx-checksumming'], 'on')
  } finally {
    await h.close()
  }
})

test.serial('userspaceOffloads: false turns TSO, GSO and checksum offload off', async (t) => {
  const h = await startEngine({ userspaceOffloads: false })
  try {
    const f = await features()
    t.is(f['tcp-segmentation-offload'], 'off')
    t.is(f['tx-checksumming'], 'off')
    t.is(f['generic-segmentation-offload'], 'off')
  } finally {
    await h.close()
  }
  // a restart adopts the interface and applies the setting again (idempotent)
  const again = new EngineHost(NS, `${ROOT}/wireguard`)
  try {
    const r = await again.call<{ adopted: boolean }>('start', {
      wireguard: opts({ userspaceOffloads: false }),
    })
    t.true(r.adopted)
    t.is((await features())['tcp-segmentation-offload'], 'off')
  } finally {
    await again.close()
  }
})

test.serial('userspaceBinary runs that build (the old one without offloads)', async (t) => {
  const h = await startEngine({ userspaceBinary: OLD })
  try {
    t.deepEqual(await wgExe(), [OLD])
    t.is((await features())['tcp-segmentation-offload'], 'off')
  } finally {
    await h.close()
  }
})

test.serial('a userspaceBinary that does not exist fails the start with the binary named', async (t) => {
  await fresh()
  const h = new EngineHost(NS, `${ROOT}/wireguard`)
  try {
    const err = await t.throwsAsync(
      h.call('start', { wireguard: opts({ userspaceBinary: '/nonexistent/wireguard-go' }) }),
    )
    t.regex(err?.message ?? '', /LATCH_ERR_WG_USERSPACE_FAILED: \/nonexistent\/wireguard-go is not installed/)
  } finally {
    await h.close()
  }
})

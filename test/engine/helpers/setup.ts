import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { PeerSession, WireguardOptions } from '../../../daemon/engine/index.js'
import { generatePrivateKey, publicKeyOf } from '../../../daemon/transport/wg-key.js'
import { FakeNetlink, FakeWg } from '../../transport/helpers/fake-wg.js'

export const silent = pino({ level: 'silent' })

/** the key directories fakeHost made, removed when the test process exits */
const dirs: string[] = []
process.once('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

export function fakeHost(): { wg: FakeWg; nl: FakeNetlink; options: WireguardOptions } {
  const nl = new FakeNetlink()
  const wg = new FakeWg('latch0', nl)
  const dir = mkdtempSync(join(tmpdir(), 'latch-test-engine-'))
  dirs.push(dir)
  return {
    wg,
    nl,
    options: {
      interface: 'latch0',
      listenPort: 51820,
      address: '10.101.0.1/32',
      privateKeyFile: join(dir, 'wg.key'),
      backend: 'auto',
      // FakeWg models the `wg` tool; no real wireguard-go socket may be found by accident
      uapiSocketDir: join(dir, 'no-uapi-sockets'),
    },
  }
}

export function psk(): string {
  return generatePrivateKey()
}

/** Peer node i (2..): its WireGuard key, a PSK, endpoint 10.99.0.(10+i), tunnel 10.101.0.i, CIDR 10.100.i.0/24. */
export function session(i: number, overrides: Partial<PeerSession> = {}): PeerSession {
  return {
    name: `node${i}`,
    wgPublicKey: publicKeyOf(generatePrivateKey()),
    presharedKey: psk(),
    endpoint: `10.99.0.${10 + i}:51820`,
    tunnelAddress: `10.101.0.${i}/32`,
    workloadCidrs: [`10.100.${i}.0/24`],
    establishedAt: new Date(),
    ...overrides,
  }
}

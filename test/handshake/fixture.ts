/**
 * A real PKI for handshake tests, generated per run in a temp dir with the certs API, and LocalNode
 * values built from it with fresh WireGuard (X25519) keys. Nodes listen on 127.0.0.1, so their node
 * certificates carry 127.0.0.1 as underlay IP (the endpoint check compares against it).
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initCa, issueNode, nodePaths, readPrivateKey } from '../../certs/index.js'
import type { LocalNode } from '../../daemon/handshake/index.js'

export const TD = 'test.latch'

export interface WgKeyPair {
  publicKey: string
  privateKey: string
}

export function wgKeyPair(): WgKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  const priv = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32)
  return { publicKey: pub.toString('base64'), privateKey: priv.toString('base64') }
}

export interface NodeSpec {
  name: string
  index: number
  /** Default 10.100.<index>.0/24 */
  cidrs?: string[]
  /** issueNode's `now`/`ttl`, e.g. to make an expired certificate */
  now?: Date
  ttl?: string
}

export class TestPki {
  constructor(
    readonly dir: string,
    readonly trustDomain: string,
  ) {}

  static async create(trustDomain = TD): Promise<TestPki> {
    const dir = await mkdtemp(join(tmpdir(), 'latch-hs-'))
    await initCa({ dir, trustDomain })
    return new TestPki(dir, trustDomain)
  }

  async rootPem(): Promise<string> {
    return readFile(join(this.dir, 'ca', 'root.crt'), 'utf8')
  }

  async issue(spec: NodeSpec): Promise<void> {
    await issueNode({
      dir: this.dir,
      node: spec.name,
      ip: '127.0.0.1',
      workloadCidrs: spec.cidrs ?? [`10.100.${spec.index}.0/24`],
      force: true,
      ...(spec.now && { now: spec.now }),
      ...(spec.ttl && { ttl: spec.ttl }),
    })
  }

  /** The LocalNode of an issued node; `overrides` change what it claims. */
  async local(
    spec: NodeSpec,
    overrides: Partial<LocalNode> = {},
    rootPki: TestPki = this,
  ): Promise<LocalNode> {
    const p = nodePaths(this.dir, spec.name)
    const cidrs = spec.cidrs ?? [`10.100.${spec.index}.0/24`]
    return {
      node: spec.name,
      trustDomain: this.trustDomain,
      rootPem: await rootPki.rootPem(),
      certPem: await readFile(p.cert, 'utf8'),
      keyPem: await readPrivateKey(p.key),
      intermediatePem: await readFile(p.caCert, 'utf8'),
      wgPublicKey: wgKeyPair().publicKey,
      endpoint: `127.0.0.1:${51820 + spec.index}`,
      tunnelAddress: `10.101.0.${spec.index}/32`,
      workloadCidrs: cidrs,
      workloads: [
        {
          id: `spiffe://${this.trustDomain}/ns/lab/sa/${spec.name}-w1`,
          ips: [cidrs[0]!.replace(/0\/\d+$/, '11')],
        },
      ],
      ...overrides,
    }
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * The test PKI (test/pki.ts) for handshake tests, and LocalNode values built from it with fresh
 * WireGuard (X25519) keys. Nodes listen on 127.0.0.1, so their node certificates carry 127.0.0.1 as underlay IP (the endpoint check compares against it).
 */
import { generateKeyPairSync } from 'node:crypto'
import type { LocalNode } from '../../daemon/handshake/index.js'
import { TestPki } from '../pki.js'

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

/** Handshake tests' view of the test PKI: nodes on 127.0.0.1 and the LocalNode each presents. */
export class HandshakePki {
  constructor(readonly pki: TestPki) {}

  static async create(trustDomain = TD): Promise<HandshakePki> {
    return new HandshakePki(await TestPki.create({ trustDomain }))
  }

  get dir(): string {
    return this.pki.dir
  }

  get trustDomain(): string {
    return this.pki.trustDomain
  }

  async rootPem(): Promise<string> {
    return this.pki.rootPem
  }

  async issue(spec: NodeSpec): Promise<void> {
    await this.pki.issueNode({
      name: spec.name,
      ip: '127.0.0.1',
      cidrs: spec.cidrs ?? [`10.100.${spec.index}.0/24`],
      ...(spec.now && { now: spec.now }),
      ...(spec.ttl && { ttl: spec.ttl }),
    })
  }

  /** The LocalNode of an issued node; `overrides` change what it claims. */
  async local(
    spec: NodeSpec,
    overrides: Partial<LocalNode> = {},
    rootPki: HandshakePki = this,
  ): Promise<LocalNode> {
    const n = this.pki.node(spec.name)
    const cidrs = spec.cidrs ?? [`10.100.${spec.index}.0/24`]
    return {
      node: spec.name,
      trustDomain: this.trustDomain,
      rootPem: await rootPki.rootPem(),
      certPem: n.certPem,
      keyPem: n.keyPem,
      intermediatePem: n.intermediateCertPem,
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
    await this.pki.remove()
  }
}

/**
 * The test PKI (test/pki.ts) for pair-auth tests: a root for trust domain pair.latch, three nodes
 * with name-constrained intermediates (node1 10.100.1.0/24, node2 10.100.2.0/24, node3
 * 10.100.3.0/24) and SVIDs issued from them in memory. Daemons run on
 * loopback: each node has its own 127.0.0.x "tunnel address", so the server can tell the sender.
 */
import type { IssuedSvid } from '../../certs/index.js'
import type { CompiledPolicy } from '../../daemon/policy/index.js'
import { compilePolicy } from '../../daemon/policy/index.js'
import { TestPki } from '../pki.js'

export const TD = 'pair.latch'
export const WEB = `spiffe://${TD}/ns/shop/sa/web`
export const DB = `spiffe://${TD}/ns/shop/sa/db`
export const API = `spiffe://${TD}/ns/shop/sa/api`

export interface NodeFixture {
  name: string
  /** Its loopback "tunnel address". */
  address: string
  cidr: string
  intermediateCertPem: string
  intermediateKeyPem: string
  certPem: string
  keyPem: string
  caCertFile: string
  caKeyFile: string
}

export const NODES = [
  { name: 'node1', address: '127.0.0.11', cidr: '10.100.1.0/24' },
  { name: 'node2', address: '127.0.0.12', cidr: '10.100.2.0/24' },
  { name: 'node3', address: '127.0.0.13', cidr: '10.100.3.0/24' },
] as const

/** Pair-auth tests' view of the test PKI: three nodes on loopback tunnel addresses. */
export class PairPki {
  constructor(
    readonly pki: TestPki,
    readonly nodes: ReadonlyMap<string, NodeFixture>,
  ) {}

  static async create(trustDomain = TD): Promise<PairPki> {
    const pki = await TestPki.create({
      trustDomain,
      nodes: NODES.map((n) => ({ name: n.name, ip: n.address, cidrs: [n.cidr] })),
    })
    const nodes = new Map<string, NodeFixture>()
    for (const n of NODES) {
      const t = pki.node(n.name)
      nodes.set(n.name, {
        ...n,
        intermediateCertPem: t.intermediateCertPem,
        intermediateKeyPem: t.intermediateKeyPem,
        certPem: t.certPem,
        keyPem: t.keyPem,
        caCertFile: t.paths.caCert,
        caKeyFile: t.paths.caKey,
      })
    }
    return new PairPki(pki, nodes)
  }

  get dir(): string {
    return this.pki.dir
  }

  get trustDomain(): string {
    return this.pki.trustDomain
  }

  get rootPem(): string {
    return this.pki.rootPem
  }

  node(name: string): NodeFixture {
    const n = this.nodes.get(name)
    if (n === undefined) throw new Error(`no node ${name} in the fixture`)
    return n
  }

  /** An SVID for `id` issued by `node`'s intermediate. */
  svid(node: string, id: string, ips: string[], o: { ttl?: string; now?: Date } = {}): Promise<IssuedSvid> {
    return this.pki.svid(node, id, ips, o)
  }

  trust(): { rootPem: string; trustDomain: string } {
    return { rootPem: this.rootPem, trustDomain: this.trustDomain }
  }

  /** The node owning a loopback tunnel address. */
  senderNode = (remote: { address: string }): string | undefined =>
    [...this.nodes.values()].find((n) => n.address === remote.address)?.name

  constraintsFor = (node: string): { cidrs: string[] } | undefined => {
    const n = this.nodes.get(node)
    return n === undefined ? undefined : { cidrs: [n.cidr] }
  }

  async remove(): Promise<void> {
    await this.pki.remove()
  }
}

/** A compiled policy allowing each [from, to] (empty = deny everything). */
export function policyOf(trustDomain: string, ...rules: [string, string][]): CompiledPolicy {
  const allow = rules.flatMap(([from, to]) => [`  - from: ${from}`, `    to: ${to}`])
  const text = ['version: 1', `trustDomain: ${trustDomain}`, allow.length ? 'allow:' : 'allow: []', ...allow]
  return compilePolicy(`${text.join('\n')}\n`, { file: 'test-policy.yaml' })
}

/**
 * The one test PKI: a real PKI made per test run in a temp dir with the certs API (the same code
 * `latchctl ca init`, `node issue` and `workload issue` run). Every test that needs certificates
 * builds them here; folder fixtures (test/certs/helpers.ts, test/handshake/fixture.ts,
 * test/pairauth/fixture.ts) only shape what this returns for their tests.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type DaemonPkiFiles,
  daemonPkiFiles,
  type IssuedSvid,
  initCa,
  issueNode,
  issueWorkload,
  issueWorkloadFromIntermediate,
  type NodePaths,
  nodePaths,
  readPrivateKey,
} from '../certs/index.js'

export interface NodeSpec {
  name: string
  /** Underlay IP (the node certificate's IP SAN). */
  ip: string
  /** The workload CIDRs the node's intermediate may sign. */
  cidrs: string[]
  /** issueNode's `now`/`ttl`, e.g. to make an expired certificate. */
  now?: Date
  ttl?: string
}

/** An issued node: its files and, read back, its PEMs. */
export interface TestNode extends NodeSpec {
  paths: NodePaths
  certPem: string
  keyPem: string
  intermediateCertPem: string
  intermediateKeyPem: string
}

export async function tempDir(prefix = 'latch-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

export class TestPki {
  readonly #nodes = new Map<string, TestNode>()

  private constructor(
    readonly dir: string,
    readonly trustDomain: string,
    readonly rootPem: string,
  ) {}

  /** A CA for `trustDomain` in `dir` (default: a new temp dir), then `nodes` issued from it. */
  static async create(o: {
    trustDomain: string
    dir?: string
    nodes?: readonly NodeSpec[]
  }): Promise<TestPki> {
    const dir = o.dir ?? (await tempDir('latch-pki-'))
    await initCa({ dir, trustDomain: o.trustDomain })
    const pki = new TestPki(dir, o.trustDomain, await readFile(join(dir, 'ca', 'root.crt'), 'utf8'))
    for (const n of o.nodes ?? []) await pki.issueNode(n)
    return pki
  }

  /** The root's key (for forging certificates the CA never issued). */
  rootKeyPem(): Promise<string> {
    return readFile(join(this.dir, 'ca', 'root.key'), 'utf8')
  }

  /** Issue (or, when it exists, re-issue) a node certificate and intermediate. */
  async issueNode(spec: NodeSpec): Promise<TestNode> {
    await issueNode({
      dir: this.dir,
      node: spec.name,
      ip: spec.ip,
      workloadCidrs: spec.cidrs,
      force: this.#nodes.has(spec.name),
      ...(spec.now && { now: spec.now }),
      ...(spec.ttl && { ttl: spec.ttl }),
    })
    const paths = nodePaths(this.dir, spec.name)
    const node: TestNode = {
      ...spec,
      paths,
      certPem: await readFile(paths.cert, 'utf8'),
      keyPem: await readPrivateKey(paths.key),
      intermediateCertPem: await readFile(paths.caCert, 'utf8'),
      intermediateKeyPem: await readPrivateKey(paths.caKey),
    }
    this.#nodes.set(spec.name, node)
    return node
  }

  node(name: string): TestNode {
    const n = this.#nodes.get(name)
    if (n === undefined) throw new Error(`no node ${name} in the test PKI (issue it first)`)
    return n
  }

  get nodes(): readonly TestNode[] {
    return [...this.#nodes.values()]
  }

  /** An SVID for `id` signed by `node`'s intermediate, in memory (as latchd issues them). */
  svid(node: string, id: string, ips: string[], o: { ttl?: string; now?: Date } = {}): Promise<IssuedSvid> {
    const n = this.node(node)
    return issueWorkloadFromIntermediate({
      intermediateCertPem: n.intermediateCertPem,
      intermediateKeyPem: n.intermediateKeyPem,
      spiffeId: id,
      ips,
      ...o,
    })
  }

  /** An SVID written to the PKI directory, as `latchctl workload issue` does. */
  workloadFiles(node: string, id: string, ips: string[], o: { ttl?: string } = {}) {
    return issueWorkload({ dir: this.dir, spiffeId: id, node, ips, ...o })
  }

  /** The `pki:` block of a latchd config for `node`. */
  daemonFiles(node: string): DaemonPkiFiles {
    return daemonPkiFiles(this.dir, node)
  }

  async remove(): Promise<void> {
    await removeDir(this.dir)
  }
}

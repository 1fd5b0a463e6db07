/**
 * Run inside a lab node's netns (`lab exec node1 node --import tsx test/e2e/pair-forge.ts …`): dials
 * a peer node's pair-auth listener from this node's tunnel address, like the node's own latchd, but
 * presenting an SVID made here, and prints one JSON line per attempt with the outcome.
 *
 *   argv[2]: JSON { pkiDir, node, peerNode, peerTunnel, port, localTunnel, peerCidrs, local, remote,
 *                   kinds: Kind[], scratch }
 *
 * Kinds (the SVID claims `local`, except `foreign`, which claims the same path in trust domain
 * other.latch):
 *   genuine  signed by this node's intermediate, for its workload IP: the control; must authenticate
 *   outside  signed by the PEER's intermediate (a valid chain), for an IP of the peer's CIDR: the
 *            sender node cannot speak for it
 *   expired  signed by this node's intermediate, expired an hour ago
 *   foreign  a whole other trust domain's CA, node intermediate and SVID
 *   foreign-id  an ID in trust domain other.latch, signed (forged) with this node's intermediate key
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { issueWorkloadFromIntermediate } from '../../certs/index.js'
import { authenticatePair } from '../../daemon/pairauth/client.js'
import { WorkloadCredentials } from '../../daemon/pairauth/credentials.js'
import { forge } from '../certs/helpers.js'
import { TestPki } from '../pki.js'

export type ForgeKind = 'genuine' | 'outside' | 'expired' | 'foreign' | 'foreign-id'

export interface ForgeRequest {
  pkiDir: string
  node: string
  peerNode: string
  peerTunnel: string
  port: number
  localTunnel: string
  peerCidrs: string[]
  /** The SPIFFE ID the SVID claims (a workload of `node`). */
  local: string
  /** The workload of the peer node asked for. */
  remote: string
  /** This node's workload IP (genuine, expired). */
  localIp: string
  /** An IP of the peer's workload CIDR (outside). */
  peerIp: string
  kinds: ForgeKind[]
  /** A directory for the foreign trust domain's PKI. */
  scratch: string
}

export interface ForgeResult {
  kind: ForgeKind
  claimed: string
  ok: boolean
  reason?: string
  by?: string
  message?: string
}

async function svidOf(
  r: ForgeRequest,
  kind: ForgeKind,
): Promise<{ id: string; chainPem: string; keyPem: string }> {
  const intermediate = async (node: string) => ({
    intermediateCertPem: await readFile(join(r.pkiDir, 'nodes', node, 'ca.crt'), 'utf8'),
    intermediateKeyPem: await readFile(join(r.pkiDir, 'nodes', node, 'ca.key'), 'utf8'),
  })
  switch (kind) {
    case 'genuine': {
      const s = await issueWorkloadFromIntermediate({
        ...(await intermediate(r.node)),
        spiffeId: r.local,
        ips: [r.localIp],
      })
      return { id: s.spiffeId, chainPem: s.chainPem, keyPem: s.keyPem }
    }
    case 'outside': {
      const s = await issueWorkloadFromIntermediate({
        ...(await intermediate(r.peerNode)),
        spiffeId: r.local,
        ips: [r.peerIp],
      })
      return { id: s.spiffeId, chainPem: s.chainPem, keyPem: s.keyPem }
    }
    case 'expired': {
      const s = await issueWorkloadFromIntermediate({
        ...(await intermediate(r.node)),
        spiffeId: r.local,
        ips: [r.localIp],
        ttl: '1h',
        now: new Date(Date.now() - 2 * 3_600_000),
      })
      return { id: s.spiffeId, chainPem: s.chainPem, keyPem: s.keyPem }
    }
    case 'foreign': {
      const id = r.local.replace(/^spiffe:\/\/[^/]+/, 'spiffe://other.latch')
      const dir = join(r.scratch, 'foreign-pki')
      await rm(dir, { recursive: true, force: true })
      const pki = await TestPki.create({
        trustDomain: 'other.latch',
        dir,
        nodes: [{ name: r.node, ip: '10.99.0.11', cidrs: ['10.100.0.0/16'] }],
      })
      const s = await pki.workloadFiles(r.node, id, [r.localIp], { ttl: '1h' })
      return { id, chainPem: s.chainPem, keyPem: s.keyPem }
    }
    case 'foreign-id': {
      const id = r.local.replace(/^spiffe:\/\/[^/]+/, 'spiffe://other.latch')
      const ca = await intermediate(r.node)
      const f = await forge({
        issuerCertPem: ca.intermediateCertPem,
        issuerKeyPem: ca.intermediateKeyPem,
        uris: [id],
        ips: [r.localIp],
      })
      return { id, chainPem: f.chainPem, keyPem: f.keyPem }
    }
  }
}

async function main(): Promise<void> {
  const r = JSON.parse(process.argv[2] ?? '') as ForgeRequest
  const rootPem = await readFile(join(r.pkiDir, 'ca', 'root.crt'), 'utf8')
  const trustDomain = (await readFile(join(r.pkiDir, 'ca', 'trust-domain'), 'utf8')).trim()
  for (const kind of r.kinds) {
    const svid = await svidOf(r, kind)
    const credentials = new WorkloadCredentials(rootPem)
    credentials.put({ spiffeId: svid.id, chainPem: svid.chainPem, keyPem: svid.keyPem })
    const outcome = await authenticatePair({
      trust: { rootPem, trustDomain },
      credentials,
      local: svid.id,
      remote: r.remote,
      peer: { node: r.peerNode, address: r.peerTunnel, port: r.port },
      localAddress: r.localTunnel,
      constraints: { cidrs: r.peerCidrs },
      policy: { pairAllowed: () => true },
      ttlMs: 60_000,
    })
    const result: ForgeResult = outcome.ok
      ? { kind, claimed: svid.id, ok: true }
      : {
          kind,
          claimed: svid.id,
          ok: false,
          reason: outcome.reason,
          by: outcome.by,
          message: outcome.message,
        }
    process.stdout.write(`${JSON.stringify(result)}\n`)
  }
}

await main()

/**
 * What each lab node's latchd reads: latchd.yaml (the config contract), peers.yaml (every other
 * node) and its WireGuard private key. Rendering is pure; writing only replaces a file whose
 * content differs, atomically (temp file + rename), so `up` twice changes nothing.
 */
import { generateKeyPairSync } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { stringify } from 'yaml'
import { etcdPkiPaths } from '../../certs/etcd-pki.js'
import { daemonPkiFiles } from '../../certs/layout.js'
import {
  clientUrl,
  LAB_ETCD_LEASE_TTL,
  LAB_ETCD_PKI_DIR,
  LAB_ETCD_PREFIX,
  labEtcdMembers,
} from './etcd-plan.js'
import { HANDSHAKE_PORT, type LabNode, type LabPlan, WG_INTERFACE, WG_PORT } from './plan.js'
import { LAB_POLICY_FILE, LAB_REVOCATION_FILE } from './policy.js'

/** How often lab daemons re-handshake and rotate their PSK (short, so tests see rotations). */
export const LAB_REKEY_INTERVAL = '120s'

/** Pair-authentication timings a lab may shorten (tests: renewal and re-auth within seconds). */
export interface LabPairTuning {
  /** latchd `svidTtl`: lifetime of the SVIDs it issues, renewed at half-life (e.g. "20s"). Default: latchd's. */
  svidTtl?: string
  /** latchd `pairAuth.ttl`: upper bound of an auth entry's life (e.g. "30s"). Default: latchd's. */
  pairAuthTtl?: string
  /** latchd `transport` (default wireguard). */
  transport?: 'wireguard' | 'ipsec'
  /** latchd `wireguard.backend` (default auto; the transport benchmark pins kernel or userspace). */
  wireguardBackend?: 'auto' | 'kernel' | 'userspace'
  /** latchd `peerGracePeriod` (e.g. "2s": the discovery benchmark sees a leave complete). Default: latchd's. */
  peerGracePeriod?: string
  /** latchd `wireguard.userspaceBinary`. Default: latchd's (wireguard-go on PATH). */
  wireguardGo?: string
  /** latchd `wireguard.userspaceOffloads`. Default: latchd's (true). */
  userspaceOffloads?: boolean
}

/**
 * `enforce` turns on the eBPF datapath (default deny between workloads until auth entries exist);
 * off, the lab is a WireGuard-only mesh (transport tests, the demo) and latchd detaches leftovers.
 * `tuning` keys that are not given are left out of the file (latchd's defaults apply).
 */
export function renderDaemonConfig(
  plan: LabPlan,
  node: LabNode,
  rekeyInterval = LAB_REKEY_INTERVAL,
  enforce = false,
  tuning: LabPairTuning = {},
  discovery: LabDiscovery = 'file',
): string {
  const config = {
    node: node.name,
    trustDomain: plan.trustDomain,
    pki: { ...daemonPkiFiles(plan.pkiDir, node.name), revocationFile: LAB_REVOCATION_FILE },
    listen: { address: node.underlayIp, port: HANDSHAKE_PORT },
    workloadCidrs: node.workloadCidrs,
    wireguard: {
      interface: WG_INTERFACE,
      listenPort: WG_PORT,
      address: node.tunnelAddress,
      privateKeyFile: node.wgKeyFile,
      backend: tuning.wireguardBackend ?? 'auto',
      ...(tuning.wireguardGo !== undefined && { userspaceBinary: tuning.wireguardGo }),
      ...(tuning.userspaceOffloads !== undefined && { userspaceOffloads: tuning.userspaceOffloads }),
    },
    ...(tuning.transport === 'ipsec' && { transport: 'ipsec' }),
    ...(discovery === 'file' ? { peersFile: node.peersFile } : { etcd: etcdDiscovery(node) }),
    controlSocket: node.controlSocket,
    workloads: node.workloads.map((w) => ({
      id: w.spiffeId,
      ips: [w.ip],
      interface: w.hostInterface,
      certFile: join(w.svidDir, 'svid.crt'),
      keyFile: join(w.svidDir, 'svid.key'),
    })),
    policyFile: LAB_POLICY_FILE,
    ...(tuning.pairAuthTtl !== undefined && { pairAuth: { ttl: tuning.pairAuthTtl } }),
    ...(tuning.svidTtl !== undefined && { svidTtl: tuning.svidTtl }),
    ...(tuning.peerGracePeriod !== undefined && { peerGracePeriod: tuning.peerGracePeriod }),
    rekeyInterval,
    datapath: {
      enabled: enforce,
      // the node's own bpffs (its mount namespace) at the default pin dir
      pinDir: '/sys/fs/bpf/latch',
      identitiesFile: join(dirname(node.configFile), 'identities.json'),
    },
    // workloads registered at runtime (`lab workload add`, latch-cni): kept per node
    registrations: {
      file: join(dirname(node.configFile), 'workloads.json'),
      svidDir: join(dirname(node.configFile), 'workloads'),
    },
    log: { level: 'info' },
  }
  return `# latchd config of lab ${node.name}; written by \`latchctl lab up\`\n${stringify(config)}`
}

export type LabDiscovery = 'file' | 'etcd'

/** The `etcd:` block of a lab node: every member, the lab's etcd CA and the node's client certificate. */
function etcdDiscovery(node: LabNode) {
  const pki = etcdPkiPaths(LAB_ETCD_PKI_DIR)
  return {
    endpoints: labEtcdMembers().map(clientUrl),
    caFile: pki.caCert,
    certFile: pki.client(node.name).cert,
    keyFile: pki.client(node.name).key,
    prefix: LAB_ETCD_PREFIX,
    leaseTtl: LAB_ETCD_LEASE_TTL,
  }
}

export function renderPeers(plan: LabPlan, node: LabNode): string {
  const peers = plan.nodes
    .filter((n) => n.name !== node.name)
    .map((n) => ({ name: n.name, address: n.underlayIp, port: HANDSHAKE_PORT }))
  return `# peers of lab ${node.name}; written by \`latchctl lab up\`\n${stringify(peers)}`
}

/** A WireGuard private key in `wg genkey` form (base64 of the raw 32-byte X25519 scalar). */
export function newWireguardKey(): string {
  const { privateKey } = generateKeyPairSync('x25519')
  const jwk = privateKey.export({ format: 'jwk' })
  return `${Buffer.from(jwk.d ?? '', 'base64url').toString('base64')}\n`
}

/** Writes `content` unless the file already holds it; returns whether it wrote. */
export async function writeIfChanged(file: string, content: string, mode = 0o644): Promise<boolean> {
  const current = await readFile(file, 'utf8').catch(() => undefined)
  if (current === content) return false
  const tmp = `${file}.tmp-${process.pid}`
  await writeFile(tmp, content, { mode })
  await rename(tmp, file)
  return true
}

/** Creates the node's WireGuard key (0600) if it has none; an existing key is never replaced. */
export async function ensureWireguardKey(node: LabNode): Promise<boolean> {
  const current = await readFile(node.wgKeyFile, 'utf8').catch(() => undefined)
  if (current?.trim()) return false
  return writeIfChanged(node.wgKeyFile, newWireguardKey(), 0o600)
}

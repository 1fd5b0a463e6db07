/**
 * The lab's etcd cluster (`lab up --discovery etcd`): three members in the underlay netns, on their
 * own addresses of the bridge, TLS everywhere with client-certificate authentication against the
 * lab's etcd CA (certs/etcd-pki.ts). Pure: names, addresses, paths and each member's command line.
 *
 *   member k (1…3)  etcd<k>, https://10.99.0.<1+k>:2379 (clients), :2380 (peers),
 *                   data /run/latch-lab/etcd/etcd<k>, log /run/latch-lab/etcd/etcd<k>.log
 */
import { join } from 'node:path'
import { etcdPkiPaths } from '../../certs/etcd-pki.js'
import { LAB_STATE_DIR } from './plan.js'

export const LAB_ETCD_DIR = join(LAB_STATE_DIR, 'etcd')
export const LAB_ETCD_PKI_DIR = join(LAB_ETCD_DIR, 'pki')
export const LAB_ETCD_MEMBERS = 3
export const ETCD_CLIENT_PORT = 2379
export const ETCD_PEER_PORT = 2380
/** The key prefix lab nodes register under, and their lease TTL. */
export const LAB_ETCD_PREFIX = '/latch/lab/nodes/'
export const LAB_ETCD_LEASE_TTL = '10s'

export interface EtcdMember {
  name: string
  ip: string
  clientPort: number
  peerPort: number
  dataDir: string
  logFile: string
}

export function labEtcdMembers(dir = LAB_ETCD_DIR): EtcdMember[] {
  return Array.from({ length: LAB_ETCD_MEMBERS }, (_, i) => ({
    name: `etcd${i + 1}`,
    ip: `10.99.0.${2 + i}`,
    clientPort: ETCD_CLIENT_PORT,
    peerPort: ETCD_PEER_PORT,
    dataDir: join(dir, `etcd${i + 1}`),
    logFile: join(dir, `etcd${i + 1}.log`),
  }))
}

export function clientUrl(m: Pick<EtcdMember, 'ip' | 'clientPort'>): string {
  return `https://${m.ip}:${m.clientPort}`
}

/**
 * The etcd command line of `member` of `cluster`. `state` new: bootstrap (a member whose data dir
 * exists ignores the initial-cluster flags and rejoins with what it stored). Small auto-compaction
 * retention so the lab exercises watch compaction like a busy production cluster.
 */
export function etcdArgs(member: EtcdMember, cluster: readonly EtcdMember[], pkiDir: string): string[] {
  const pki = etcdPkiPaths(pkiDir)
  const own = pki.member(member.name)
  const peer = (m: EtcdMember) => `https://${m.ip}:${m.peerPort}`
  return [
    `--name=${member.name}`,
    `--data-dir=${member.dataDir}`,
    `--listen-client-urls=${clientUrl(member)}`,
    `--advertise-client-urls=${clientUrl(member)}`,
    `--listen-peer-urls=${peer(member)}`,
    `--initial-advertise-peer-urls=${peer(member)}`,
    `--initial-cluster=${cluster.map((m) => `${m.name}=${peer(m)}`).join(',')}`,
    '--initial-cluster-state=new',
    '--initial-cluster-token=latch-lab',
    '--client-cert-auth',
    `--trusted-ca-file=${pki.caCert}`,
    `--cert-file=${own.cert}`,
    `--key-file=${own.key}`,
    '--peer-client-cert-auth',
    `--peer-trusted-ca-file=${pki.caCert}`,
    `--peer-cert-file=${own.cert}`,
    `--peer-key-file=${own.key}`,
    '--auto-compaction-mode=revision',
    '--auto-compaction-retention=1000',
    '--logger=zap',
    '--log-outputs=stderr',
  ]
}

/**
 * The status report latchd answers `{"cmd":"status"}` with (`latchctl status --json` prints it as is).
 * JSON-ready: times are ISO 8601 strings, durations seconds, no bigint. Fields marked optional are
 * absent (never null) when latchd does not know them.
 */
import type { SvidInfo } from './svid.js'

export interface StatusReport {
  /** This node's name (config `node`). */
  node: string
  trustDomain: string
  /** This node's SPIFFE ID, `spiffe://<trustDomain>/latch/node/<node>`. */
  spiffeId: string
  /** latchd's process id. */
  pid: number
  startedAt: string
  uptimeSeconds: number
  /**
   * true once start-up has finished (every component started, the discovered peers handed to the
   * mesh); false while it runs and while stopping. The control socket answers before that.
   */
  ready: boolean
  /** The node handshake listener, `address:port` (IPv6 in brackets). */
  listen: string
  /** How often a dialer re-handshakes (and so rotates the PSK). */
  rekeyIntervalSeconds: number
  /** How long a tunnel outlives its lost control connection. */
  gracePeriodSeconds: number
  /**
   * What carries the mesh, as running: `wireguard` (backend `kernel` or `userspace` = wireguard-go)
   * or `ipsec` (ESP through XFRM; the interface is the XFRM interface, `ifId` its if_id). `backend`
   * is absent when the engine could not be read (then `wireguard.error` says why).
   */
  transport: {
    kind: 'wireguard' | 'ipsec'
    interface: string
    backend?: 'kernel' | 'userspace' | 'ipsec'
    ifId?: number
  }
  wireguard: {
    /** The WireGuard interface latchd manages (config `wireguard.interface`; unused with IPsec). */
    interface: string
    /** This node's WireGuard public key (base64). */
    publicKey: string
    listenPort: number
    /** This node's tunnel address (CIDR). */
    address: string
    /** Set when WireGuard could not be read (the error message). */
    error?: string
    /** WireGuard peers latch does not manage (not matched to a peer of the peers file). */
    unmanagedPeers: Array<{ publicKey: string; endpoint?: string; rxBytes: number; txBytes: number }>
  }
  /** One entry per peer of the peers file, in its order. */
  peers: StatusPeer[]
  /** The local workloads of the config. */
  workloads: Array<{ id: string; ips: string[]; interface?: string }>
  /** The eBPF datapath (pins, attached interfaces, counters); absent with datapath.enabled: false. */
  datapath?: DatapathReport
  /** Absent when latchd runs without a policy file (no pair authentication). */
  pairAuth?: PairAuthStatus
  /** Where the peers come from: the peers file, or etcd (connection, registration, rejected records). */
  discovery?: DiscoveryStatus
  /** The PKI latchd runs with: expiry of each credential, the revocation list, hot reloads. */
  trust?: StatusTrust
}

export interface StatusTrust {
  /** Every root of the trust bundle, the intermediate and the node certificate. */
  credentials: Array<{
    kind: 'root' | 'intermediate' | 'node'
    subject: string
    serial: string
    notAfter: string
    expiresInSeconds: number
    /** Set once the credential is inside its warning window. */
    warning?: string
  }>
  revocations: { file?: string; digest: string; entries: number }
  /** PKI file sets taken since start. */
  reloads: number
  lastReloadAt?: string
  /** The last new file set that was refused (the running one stayed), until a good one arrives. */
  rejected?: { at: string; problems: string[] }
}

/** A refusal or failure as status shows it. */
export interface StatusRefusal {
  /** A reason code of the node handshake (daemon/handshake/reasons.ts). */
  reason: string
  message: string
  /** Who refused: this node, the peer, or neither (the network or a timeout). */
  by: 'local' | 'peer' | 'transport'
  at: string
  /** The other end never proved its identity: the name is what it claimed or who we dialed. */
  unverified?: boolean
}

/** One peer node, as status shows it. */
export interface StatusPeer {
  /** The peer's node name (from the peers file). */
  name: string
  /** Where its handshake listener is (from the peers file). */
  address: string
  port: number
  /** The certificate fingerprint its etcd registration names; the handshake refuses any other. */
  fingerprint?: string
  /** dialer: this node dials and drives re-handshakes; acceptor: the peer does. */
  role: 'dialer' | 'acceptor'
  /** The peer state machine (daemon/node/peer.ts). */
  state: 'connecting' | 'established' | 'backoff' | 'refused' | 'awaiting' | 'stopped'
  /** up: WireGuard peer programmed; grace: control connection lost, tunnel kept until graceUntil; down. */
  tunnel: 'up' | 'grace' | 'down'
  /** When the current PSK was derived (the last completed handshake). */
  lastHandshakeAt?: string
  /** Seconds since the current PSK was derived. */
  pskAgeSeconds?: number
  /** Completed re-handshakes (PSK rotations) since latchd started. */
  rotations: number
  /** The peer's WireGuard endpoint, tunnel address, key and workload CIDRs (from its checked hello). */
  endpoint?: string
  tunnelAddress?: string
  wgPublicKey?: string
  workloadCidrs?: string[]
  /** The workloads the peer hosts (its inventory, checked against its name constraints). */
  workloads?: Array<{ id: string; ips: string[] }>
  /** Why the last attempt was refused (cleared by the next success). */
  refusal?: StatusRefusal
  /** The last transport failure (unreachable, timeout…), cleared by the next success. */
  lastError?: StatusRefusal
  /** When a dialer tries again (backoff). */
  nextAttemptAt?: string
  /** When a tunnel in grace is removed unless the peer comes back. */
  graceUntil?: string
  /** WireGuard counters for this peer, when WireGuard has it. */
  wireguard?: { rxBytes: number; txBytes: number; latestHandshake?: string; hasPresharedKey: boolean }
}

/** Identity-pair authentication (DESIGN §5): policy, local identities, pairs and auth entries. */
export interface PairAuthStatus {
  /** The pair-auth listener's port on the tunnel address. */
  port: number
  /** The configured lifetime of an auth entry (certificates may end it sooner). */
  ttlSeconds: number
  policy: {
    /** The policy file latchd watches. */
    file: string
    /** sha256 of the running policy's rules. */
    digest: string
    /** Allowed (from, to) rules of the running policy. */
    allowedPairs: number
    /** Why the file on disk is not the running policy (it was rejected; the running one stays). */
    error?: {
      code: string
      message: string
      file?: string
      problems?: Array<{ line: number; col: number; message: string }>
    }
  }
  /** The local workloads' SVIDs. */
  identities: SvidInfo[]
  /**
   * Every planned pair (local workload, remote workload, remote node), then every allowed pair of
   * two workloads of this node (sameNode: entries written without a handshake, node = this node;
   * pending with lastReason revoked / no_svid / svid_expired when one of them has no usable SVID).
   */
  pairs: Array<{
    local: string
    remote: string
    node: string
    /** This node dials (the peer only as a fallback); false for same-node pairs. */
    initiator: boolean
    /** Both workloads are on this node. */
    sameNode?: boolean
    state: 'authenticated' | 'authenticating' | 'pending'
    /** When the pair's auth entries expire (authenticated pairs). */
    expiresAt?: string
    /** The remote workload's IPs, from the IP SANs of the SVID that authenticated. */
    remoteIps?: string[]
    /** Failed attempts since the last success. */
    failures: number
    lastReason?: string
  }>
  /** The datapath's auth entries (src → dst until expiresAt). */
  authEntries: AuthEntryReport[]
  /** Set when the auth entries could not be read (the error message). */
  authEntriesError?: string
  /** The most recent failed pair authentications, newest first. */
  recentFailures: StatusPairFailure[]
}

/** A pair authentication that did not succeed, as status shows it (the most recent first). */
export interface StatusPairFailure {
  at: string
  /** The local workload's SPIFFE ID, when known. */
  local?: string
  /** The remote workload's SPIFFE ID, when known. */
  remote?: string
  /** The remote node, when known. */
  node?: string
  /** client: this node dialed; server: the peer dialed this node. */
  role: 'client' | 'server'
  /** A reason code of pair authentication (daemon/pairauth/reasons.ts). */
  reason: string
  by: 'local' | 'peer' | 'transport'
  message: string
  /** The certificate verification reason (certs/verify.ts), when a certificate was refused. */
  certReason?: string
}

/** One auth entry: packets from the workload `src` may reach `dst` on this node until `expiresAt`. */
export interface AuthEntryReport {
  /** SPIFFE IDs. */
  src: string
  dst: string
  expiresAt: string
  /** Set (true) by auth_list for an entry past its expiry that garbage collection has not removed yet. */
  expired?: boolean
}

/** The datapath part of the status report. */
export interface DatapathReport {
  /** Where the maps and programs are pinned (bpffs). */
  pinDir: string
  /** The loaded tc programs: name, kernel program id, and whether latchd loaded or adopted them. */
  programs: Array<{ name: string; id: number; action: string }>
  /** The WireGuard interface's ifindex (remote sources must arrive through it). */
  wireguardIfindex?: number
  /** One entry per local workload interface. */
  interfaces: InterfaceReport[]
  /** SPIFFE IDs with an allocated identity id */
  identities: number
  /** Remote identities with ipcache entries. */
  remoteIdentities: number
  /** Entries in the auth map. */
  authEntries: number
  /** counters summed over CPUs, one row per reason; verdict pass/drop/event */
  stats: Array<{ reason: string; verdict: string; packets: number; bytes: number }>
}

/** A local workload's interface in the datapath. */
export interface InterfaceReport {
  /** The workload's SPIFFE ID. */
  workload: string
  /** The host side of the workload's veth. */
  interface: string
  ifindex?: number
  /** The workload's identity id (node-local). */
  identity: number
  /** our current programs are at our tc slot in both directions */
  attached: boolean
  /** Why the programs are not attached, if so. */
  error?: string
}

/** The discovery part of the status report. */
export type DiscoveryStatus =
  | {
      backend: 'file'
      file: string
      peers: number
      /** Why the last edit of the file was not applied (the peers stayed as they were). */
      rejected?: { code: string; message: string; at: string }
    }
  | {
      backend: 'etcd'
      endpoints: string[]
      prefix: string
      /** The watch stream is up and the view is current. */
      connected: boolean
      /** This node's own record is written under a live lease. */
      registered: boolean
      leaseTtlSeconds: number
      /** The etcd revision the view is at. */
      revision?: string
      lastSyncAt?: string
      /** Full listings since start (the first, and one after each compaction or lost watch). */
      resyncs: number
      /** Valid registrations of other nodes. */
      records: number
      /** Registrations that went away, still peers until their grace period ends. */
      departing: Array<{ name: string; until: string }>
      /** Values under the prefix that are not a valid registration, with what is wrong. */
      rejected: Array<{ key: string; problem: string; at: string }>
      lastError?: { message: string; at: string }
    }

/**
 * The latchd configuration: one zod schema, field by field, with every default in DEFAULTS.
 * Unknown keys are rejected at every level (`.strict()`); durations are parsed to milliseconds;
 * cross-field rules (workload IPs inside workloadCidrs, distinct metrics/listen ports) are checked
 * here too so that one `parse` says everything that is wrong, each issue with its key path.
 * Pure: no I/O. Loading (file → frozen Config) is in load.ts.
 */
import { z } from 'zod'
import { LIMIT_DEFAULTS } from '../base/conn-guard.js'
import { formatDurationMs, parseDurationMs } from '../base/duration.js'
import { parseSpiffeId, parseTrustDomain } from '../base/spiffe-id.js'
import { DEFAULT_CONTROL_SOCKET } from '../wire/socket.js'
import { interfaceCidr, ipAddress, ipInCidrs, networkCidr, nodeName, port } from './net.js'

/** Every default of the config, in one place. Durations in milliseconds. */
export const DEFAULTS = Object.freeze({
  listenPort: 7443,
  wireguardInterface: 'latch0',
  wireguardListenPort: 51820,
  wireguardBackend: 'auto' as const,
  ipsecInterface: 'latchx0',
  ipsecIfId: 0x4c41,
  controlSocket: DEFAULT_CONTROL_SOCKET,
  /** Re-handshake (and PSK rotation) period; well inside WireGuard's 180 s REJECT_AFTER_TIME. */
  rekeyIntervalMs: 120_000,
  /** How long a peer whose control connection dropped keeps its tunnel before it is removed. */
  peerGracePeriodMs: 180_000,
  logLevel: 'info' as const,
  datapathPinDir: '/sys/fs/bpf/latch',
  datapathIdentitiesFile: '/var/lib/latch/identities.json',
  /**
   * Connection tracking idle timeouts (datapath.conntrack): the LATCH_CT_DEFAULT_* of
   * bpf/include/latch_abi.h, which the programs use for an unset field (a test keeps them equal).
   */
  conntrackMs: Object.freeze({
    tcpSyn: 60_000,
    tcpEstablished: 21_600_000,
    tcpClosing: 60_000,
    tcpClosed: 10_000,
    udp: 60_000,
    icmp: 30_000,
    other: 60_000,
    fragments: 30_000,
  }),
  /** TCP port of the identity-pair authentication listener on the tunnel address (DESIGN §5). */
  pairAuthPort: 7444,
  /** Upper bound of an auth entry's life (also bounded by both SVIDs' notAfter). */
  pairAuthTtlMs: 600_000,
  /** Lifetime of the SVIDs latchd issues for its workloads; renewed at half-life. */
  svidTtlMs: 3_600_000,
  /** Runtime workload registrations (control socket / CNI), kept across restarts (JSON, 0600). */
  registrationsFile: '/var/lib/latch/workloads.json',
  /** Where latchd keeps the SVIDs and keys it issues for registered workloads (0700). */
  registrationsSvidDir: '/var/lib/latch/workloads',
  /** The most workloads one latchd hosts (config + registered). */
  maxWorkloads: 4096,
  /** etcd discovery: the key prefix every node registers under, and its lease TTL. */
  etcdPrefix: '/latch/nodes/',
  etcdLeaseTtlMs: 10_000,
})

/** Bounds: a rekey every second would spend the CPU on TLS; more than a day would keep a PSK too long. */
export const REKEY_MIN_MS = 1000
export const REKEY_MAX_MS = 86_400_000

const path = z.string().min(1, 'expected a file path')

function duration(min: number, max: number) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDurationMs(v)
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration such as 120s, 2m or 500ms, got ${JSON.stringify(v)}`,
      })
      return z.NEVER
    }
    if (ms < min || ms > max) {
      ctx.addIssue({
        code: 'custom',
        message: `must be between ${formatDurationMs(min)} and ${formatDurationMs(max)}, got ${formatDurationMs(ms)}`,
      })
      return z.NEVER
    }
    return ms
  })
}

const trustDomain = z.string().superRefine((v, ctx) => {
  try {
    parseTrustDomain(v)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) })
  }
})

const spiffeIdString = z.string().superRefine((v, ctx) => {
  try {
    parseSpiffeId(v, { requirePath: true })
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) })
  }
})

const pkiSchema = z
  .object({
    /** The root CA certificate (the trust bundle) all node certificates chain to. */
    caFile: path,
    /** This node's certificate (URI SAN spiffe://TD/latch/node/NODE), signed by the root. */
    certFile: path,
    /** Its private key (0600). */
    keyFile: path,
    /** This node's name-constrained intermediate CA (sent to peers in the handshake). */
    intermediateCertFile: path,
    /** Its private key (0600), used to renew local workload SVIDs. */
    intermediateKeyFile: path,
    /** The revocation list (README "Revocation list"), watched and hot-reloaded; optional. */
    revocationFile: path.optional(),
  })
  .strict()

const listenSchema = z
  .object({
    /** The underlay address the handshake listener binds; also this node's WireGuard endpoint address. */
    address: ipAddress,
    /** TCP port of the handshake listener. */
    port: port.default(DEFAULTS.listenPort),
  })
  .strict()

const wireguardSchema = z
  .object({
    interface: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'an interface name is 1-15 letters, digits, "_", "." or "-"')
      .default(DEFAULTS.wireguardInterface),
    listenPort: port.default(DEFAULTS.wireguardListenPort),
    /** This node's tunnel address with prefix, e.g. 10.101.0.1/32. */
    address: interfaceCidr,
    /** WireGuard private key (base64, `wg genkey` format); created 0600 when missing. */
    privateKeyFile: path,
    backend: z.enum(['auto', 'kernel', 'userspace']).default(DEFAULTS.wireguardBackend),
    /** The wireguard-go latchd starts for the userspace backend (a name on PATH or a path). */
    userspaceBinary: z.string().min(1).default('wireguard-go'),
    /**
     * false: the userspace interface's TUN segmentation and checksum offloads are turned off
     * (ethtool -K <if> tx off tso off gso off), so the kernel hands wireguard-go MTU-sized packets.
     */
    userspaceOffloads: z.boolean().default(true),
    /**
     * How latchd reads and programs a userspace interface: `uapi` speaks wireguard-go's socket
     * (/var/run/wireguard/<if>.sock) directly; `wg` runs the wg(8) tool as for the kernel backend.
     */
    userspaceControl: z.enum(['uapi', 'wg']).default('uapi'),
  })
  .strict()

const ipsecSchema = z
  .object({
    /** The XFRM interface routes to peers point at (its ifindex is the datapath's "via tunnel"). */
    interface: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'an interface name is 1-15 letters, digits, "_", "." or "-"')
      .default(DEFAULTS.ipsecInterface),
    /** The if_id the interface, latch's SAs and its policies carry (1 … 2^32-1; others are not touched). */
    ifId: z.number().int().min(1).max(0xffff_ffff).default(DEFAULTS.ipsecIfId),
  })
  .strict()

const workloadSchema = z
  .object({
    /** The workload's SPIFFE ID. */
    id: spiffeIdString,
    /** Its addresses; each must lie inside this node's workloadCidrs. */
    ips: z.array(ipAddress).min(1, 'a workload has at least one IP'),
    /** The host-side interface of the workload (for the datapath). */
    interface: z.string().min(1).optional(),
    /** The workload's SVID (leaf) and key (0600); latchd presents them in pair authentication. */
    certFile: path.optional(),
    keyFile: path.optional(),
    /** Optional: SVID + intermediate, written beside them for the workload's own TLS. */
    chainFile: path.optional(),
    /**
     * true (default): latchd issues and renews the SVID from the node intermediate at half-life.
     * false: the files are managed elsewhere and presented as they are (re-read on restart).
     */
    renew: z.boolean().default(true),
  })
  .strict()

const pairAuthSchema = z
  .object({
    /** TCP port of the pair-auth listener, bound on the tunnel address (wireguard.address). */
    port: port.default(DEFAULTS.pairAuthPort),
    /** Upper bound of an auth entry's life, e.g. 10m (5s … 1d); re-authenticated at 2/3 of it. */
    ttl: duration(5000, REKEY_MAX_MS).default(`${DEFAULTS.pairAuthTtlMs}ms`),
  })
  .strict()

/** Bounds of a conntrack idle timeout: below 1 s flows die between two packets; above 7 d entries never go. */
export const CT_TIMEOUT_MIN_MS = 1000
export const CT_TIMEOUT_MAX_MS = 7 * 86_400_000

const ctTimeout = (key: keyof typeof DEFAULTS.conntrackMs) =>
  duration(CT_TIMEOUT_MIN_MS, CT_TIMEOUT_MAX_MS).default(`${DEFAULTS.conntrackMs[key]}ms`)

/** How long the kernel keeps an idle tracked flow, per protocol and TCP state (1s … 7d each). */
const conntrackSchema = z
  .object({
    /** TCP: SYN seen, no reply yet. */
    tcpSyn: ctTimeout('tcpSyn'),
    /** TCP: both directions seen. */
    tcpEstablished: ctTimeout('tcpEstablished'),
    /** TCP: FIN seen in one direction. */
    tcpClosing: ctTimeout('tcpClosing'),
    /** TCP: FIN both ways, or RST (how soon a closed connection is forgotten). */
    tcpClosed: ctTimeout('tcpClosed'),
    udp: ctTimeout('udp'),
    /** ICMP / ICMPv6 echo. */
    icmp: ctTimeout('icmp'),
    /** Every other protocol. */
    other: ctTimeout('other'),
    /** How long the later fragments of a packet may follow its first fragment. */
    fragments: ctTimeout('fragments'),
  })
  .strict()

const datapathSchema = z
  .object({
    /** Enforce identity pairs with the eBPF datapath (false: WireGuard transport only). */
    enabled: z.boolean().default(true),
    /** bpffs directory of the pinned maps and programs, re-adopted across restarts. */
    pinDir: path.default(DEFAULTS.datapathPinDir),
    /** SPIFFE ID → identity id allocation, kept across restarts (JSON, 0600). */
    identitiesFile: path.default(DEFAULTS.datapathIdentitiesFile),
    /** Connection tracking idle timeouts; written to the datapath's config map at start. */
    conntrack: conntrackSchema.default({}),
  })
  .strict()

const registrationsSchema = z
  .object({
    /** The runtime registrations (`latchctl workload add`, latch-cni), re-adopted on start. */
    file: path.default(DEFAULTS.registrationsFile),
    /** SVID + key of each registered workload (issued here; the key never leaves the node). */
    svidDir: path.default(DEFAULTS.registrationsSvidDir),
    /** Refuse registrations beyond this many local workloads (config + registered). */
    max: z.number().int().min(1).max(DEFAULTS.maxWorkloads).default(DEFAULTS.maxWorkloads),
  })
  .strict()

const count = (max: number) => z.number().int().min(1).max(max)
const listenerLimits = (d: { maxConnections: number; maxPerSource: number }) =>
  z
    .object({
      /** Open connections of this listener, authenticated or not. */
      maxConnections: count(1_000_000).default(d.maxConnections),
      /** Open connections from one source address. */
      maxPerSource: count(1_000_000).default(d.maxPerSource),
    })
    .strict()
    .default({})

/** Bounded listeners (daemon/base/conn-guard.ts): defaults in LIMIT_DEFAULTS there. */
const limitsSchema = z
  .object({
    /** An unauthenticated connection (no session, verdict, request yet) is closed after this, e.g. 10s. */
    handshakeTimeout: duration(500, 300_000).default(`${LIMIT_DEFAULTS.handshakeTimeoutMs}ms`),
    /** …or once it has read more raw bytes than this. */
    maxPreAuthBytes: count(64 << 20).default(LIMIT_DEFAULTS.maxPreAuthBytes),
    /** File descriptors unauthenticated connections may never take (peers, control, wg, files keep them). */
    reservedFds: count(1_000_000).default(LIMIT_DEFAULTS.reservedFds),
    /** Unauthenticated connections of all listeners together (also ≤ open-file limit − reservedFds). */
    maxUnauthenticated: count(1_000_000).default(LIMIT_DEFAULTS.maxUnauthenticated),
    node: listenerLimits(LIMIT_DEFAULTS.node),
    pairAuth: listenerLimits(LIMIT_DEFAULTS.pairAuth),
    metrics: listenerLimits(LIMIT_DEFAULTS.metrics),
    control: z
      .object({ maxConnections: count(1_000_000).default(LIMIT_DEFAULTS.control.maxConnections) })
      .strict()
      .default({}),
  })
  .strict()

const etcdEndpoint = z
  .string()
  .regex(/^https:\/\/[^/\s]+:\d{1,5}$/, 'an etcd endpoint is https://HOST:PORT (etcd discovery requires TLS)')

const etcdSchema = z
  .object({
    /** The etcd cluster's client URLs, e.g. [https://10.99.0.2:2379, https://10.99.0.3:2379]. */
    endpoints: z.array(etcdEndpoint).min(1, 'give at least one etcd endpoint'),
    /** The CA that signed the etcd members' server certificates (PEM). */
    caFile: path,
    /** This node's etcd client certificate and key (0600): etcd authenticates latchd by it. */
    certFile: path,
    keyFile: path,
    /** Every node registers under PREFIX<node name> and watches PREFIX; ends with "/". */
    prefix: z
      .string()
      .regex(
        /^\/[\x21-\x7e]*\/$/,
        'a key prefix starts and ends with "/" and has no spaces, e.g. /latch/nodes/',
      )
      .default(DEFAULTS.etcdPrefix),
    /** TTL of this node's registration lease, kept alive at a third of it, e.g. 10s (2s … 1h). */
    leaseTtl: duration(2000, 3_600_000).default(`${DEFAULTS.etcdLeaseTtlMs}ms`),
  })
  .strict()

const metricsSchema = z
  .object({
    address: ipAddress,
    port,
  })
  .strict()

export const configSchema = z
  .object({
    /** This node's name; its certificate must carry spiffe://<trustDomain>/latch/node/<node>. */
    node: nodeName,
    trustDomain,
    pki: pkiSchema,
    listen: listenSchema,
    /** The workload CIDRs this node hosts (must lie inside its intermediate's name constraints). */
    workloadCidrs: z.array(networkCidr),
    wireguard: wireguardSchema,
    /**
     * What carries workload packets between nodes: `wireguard` (default), or `ipsec` (ESP tunnel
     * mode via XFRM, keys from the node handshake; uses wireguard.address, listenPort only as the
     * advertised endpoint, and the WireGuard key pair as the pair identity).
     */
    transport: z.enum(['wireguard', 'ipsec']).default('wireguard'),
    ipsec: ipsecSchema.default({}),
    /**
     * Discovery, one of two: the static peers file (YAML list of {name, address, port}; reloaded when
     * it changes), or `etcd` (every node registers itself and watches the others).
     */
    peersFile: path.optional(),
    etcd: etcdSchema.optional(),
    /** The local control socket (0600) `latchctl status` talks to. */
    controlSocket: path.default(DEFAULTS.controlSocket),
    /** Local workloads; their inventory (SPIFFE ID → IPs) is sent to peers. */
    workloads: z.array(workloadSchema).default([]),
    /** Re-handshake and PSK rotation period, e.g. 120s (1s … 1d). Parsed to milliseconds. */
    rekeyInterval: duration(REKEY_MIN_MS, REKEY_MAX_MS).default(`${DEFAULTS.rekeyIntervalMs}ms`),
    /** How long a peer whose control connection dropped keeps its tunnel, e.g. 180s. Milliseconds. */
    peerGracePeriod: duration(0, REKEY_MAX_MS).default(`${DEFAULTS.peerGracePeriodMs}ms`),
    log: z
      .object({
        level: z
          .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
          .default(DEFAULTS.logLevel),
      })
      .strict()
      .default({}),
    /**
     * The policy file (DESIGN §7), watched and hot-reloaded. Without it there is no pair
     * authentication: every pair stays denied.
     */
    policyFile: path.optional(),
    pairAuth: pairAuthSchema.default({}),
    /** Lifetime of the SVIDs latchd issues for its workloads, e.g. 1h (10s … 1d); renewed at half-life. */
    svidTtl: duration(10_000, REKEY_MAX_MS).default(`${DEFAULTS.svidTtlMs}ms`),
    /** The eBPF identity datapath (DESIGN §6). */
    datapath: datapathSchema.default({}),
    /** Workloads registered at runtime through the control socket (DESIGN §8b). */
    registrations: registrationsSchema.default({}),
    /** Optional Prometheus /metrics listener. */
    metrics: metricsSchema.optional(),
    /** Bounds of every listener against a hostile network. */
    limits: limitsSchema.default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    c.workloads.forEach((w, i) => {
      w.ips.forEach((ip, j) => {
        if (!ipInCidrs(ip, c.workloadCidrs)) {
          ctx.addIssue({
            code: 'custom',
            path: ['workloads', i, 'ips', j],
            message: `${ip} is not inside this node's workloadCidrs (${c.workloadCidrs.join(', ') || 'none'})`,
          })
        }
      })
      let td: string
      try {
        td = parseSpiffeId(w.id).trustDomain
      } catch {
        return // already reported on workloads[i].id
      }
      if (td !== c.trustDomain) {
        ctx.addIssue({
          code: 'custom',
          path: ['workloads', i, 'id'],
          message: `the workload is in trust domain "${td}", this node in "${c.trustDomain}"`,
        })
      }
    })
    const seen = new Set<string>()
    c.workloads.forEach((w, i) => {
      if (seen.has(w.id)) {
        ctx.addIssue({ code: 'custom', path: ['workloads', i, 'id'], message: `${w.id} is listed twice` })
      }
      seen.add(w.id)
    })
    if ((c.peersFile === undefined) === (c.etcd === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.peersFile === undefined ? 'peersFile' : 'etcd'],
        message:
          c.peersFile === undefined
            ? 'give one discovery: peersFile (a static list) or etcd (registration + watch)'
            : 'peersFile and etcd are two discovery backends: give one of them',
      })
    }
    if (c.metrics && c.metrics.address === c.listen.address && c.metrics.port === c.listen.port) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics', 'port'],
        message: 'the metrics listener cannot share the handshake listener port',
      })
    }
  })

/** The validated configuration (durations in milliseconds, paths absolute). Deeply frozen by load.ts. */
export type Config = z.output<typeof configSchema>
export type WorkloadConfig = Config['workloads'][number]

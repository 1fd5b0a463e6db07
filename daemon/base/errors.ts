/**
 * The one error registry of latch.
 *
 * Every error latch raises on purpose is a LatchError whose `code` is one of the keys below
 * (`LATCH_ERR_<AREA>_<WHAT>`). Each entry says what went wrong in general, what the operator should
 * do about it, and which process exit code the CLI uses. Codes are stable: tests, scripts and docs
 * match on them, so never rename one; add a new one instead.
 *
 * Exit codes follow sysexits(3) where one fits: 64 usage, 65 bad input data, 66 missing input,
 * 69 unavailable, 70 internal, 73 can't create, 74 I/O, 77 permission, 78 configuration.
 */

export interface ErrorSpec {
  /** Process exit code latchctl/latchd use when this error ends them. */
  readonly exit: number
  /** What to do about it, shown after the message. */
  readonly fix: string
}

export const ERRORS = {
  // --- usage -------------------------------------------------------------------------------------
  LATCH_ERR_USAGE_BAD_ARGUMENT: { exit: 64, fix: 'check the command line; --help lists the options' },

  // --- SPIFFE IDs ----------------------------------------------------------------------------------
  LATCH_ERR_SPIFFE_MALFORMED: {
    exit: 65,
    fix: 'write the ID as spiffe://<trust-domain>/<path>, e.g. spiffe://example.org/ns/shop/sa/web (lowercase trust domain; path segments of letters, digits, ".", "-", "_")',
  },
  LATCH_ERR_SPIFFE_WRONG_TRUST_DOMAIN: {
    exit: 65,
    fix: 'use an ID in the trust domain of this CA/mesh, or issue from the CA of that trust domain',
  },

  // --- network input -------------------------------------------------------------------------------
  LATCH_ERR_NET_BAD_IP: { exit: 65, fix: 'give an IPv4 or IPv6 address such as 10.0.1.5 or fd00::5' },
  LATCH_ERR_NET_BAD_CIDR: {
    exit: 65,
    fix: 'give a CIDR such as 10.0.1.0/24 whose host bits are zero (10.0.1.0/24, not 10.0.1.7/24)',
  },

  // --- PKI -----------------------------------------------------------------------------------------
  LATCH_ERR_PKI_CA_MISSING: {
    exit: 66,
    fix: 'run `latchctl ca init --trust-domain TD` first, or point --dir at the directory that holds the CA',
  },
  LATCH_ERR_PKI_CA_EXISTS: {
    exit: 73,
    fix: 'pass --force to replace it (every certificate it issued stops verifying), or choose another --dir',
  },
  LATCH_ERR_PKI_NODE_UNKNOWN: { exit: 66, fix: 'issue the node first with `latchctl node issue NODE ...`' },
  LATCH_ERR_PKI_NODE_EXISTS: { exit: 73, fix: 'pass --force to re-issue the node, or choose another name' },
  LATCH_ERR_PKI_BAD_NAME: {
    exit: 65,
    fix: 'node names are 1-63 characters of lowercase letters, digits and "-", starting with a letter or digit',
  },
  LATCH_ERR_PKI_IP_OUTSIDE_NODE: {
    exit: 65,
    fix: "give an IP inside the node's workload CIDRs, or re-issue the node with a --workload-cidr that covers it",
  },
  LATCH_ERR_PKI_BAD_TTL: { exit: 65, fix: 'give a duration such as 90s, 30m, 24h or 7d' },
  LATCH_ERR_PKI_KEY_UNREADABLE: {
    exit: 74,
    fix: 'check that the key file exists and is readable by this user',
  },
  LATCH_ERR_PKI_KEY_PERMISSIONS: {
    exit: 77,
    fix: 'private keys must not be readable by group or others: chmod 600 the key file',
  },
  LATCH_ERR_PKI_CERT_UNREADABLE: {
    exit: 65,
    fix: 'give a PEM file with one or more CERTIFICATE blocks (leaf first)',
  },
  LATCH_ERR_PKI_WRITE_FAILED: { exit: 73, fix: 'check that the directory is writable and has free space' },
  LATCH_ERR_PKI_CIDR_OVERLAP: {
    exit: 65,
    fix: 'two nodes must not host the same workload IPs: pick a CIDR no other node has, or re-issue that node with --force and a smaller range',
  },
  LATCH_ERR_PKI_RESERVED_ID: {
    exit: 65,
    fix: 'SPIFFE IDs under /latch/ are node identities made by `latchctl node issue`; give the workload an ID such as spiffe://TD/ns/NAMESPACE/sa/NAME',
  },
  LATCH_ERR_PKI_STATE_CORRUPT: {
    exit: 65,
    fix: 'a file in the PKI directory is not what latch wrote: restore it from backup, or re-issue (`latchctl node issue NODE --force ...` / `latchctl ca init --force`)',
  },

  // --- certificate verification (reasons from certs/verify) ----------------------------------------
  LATCH_ERR_CERT_INVALID: {
    exit: 65,
    fix: 'see the reason; re-issue the certificate from the right CA/node with `latchctl identity issue`',
  },

  // --- config --------------------------------------------------------------------------------------
  LATCH_ERR_CONFIG_MISSING: { exit: 66, fix: 'create the config file or pass --config PATH' },
  LATCH_ERR_CONFIG_INVALID: { exit: 78, fix: 'fix the named key; the running configuration was kept' },

  // --- discovery (daemon/discovery) ----------------------------------------------------------------
  LATCH_ERR_DISCOVERY_ETCD_TLS: {
    exit: 66,
    fix: "etcd.caFile, etcd.certFile and etcd.keyFile must be readable PEM files (the key 0600): the etcd CA, and this node's etcd client certificate and key (`latchctl lab up --discovery etcd` writes them under /run/latch-lab/etcd/pki)",
  },
  LATCH_ERR_DISCOVERY_ETCD_UNAVAILABLE: {
    exit: 69,
    fix: "check that an etcd.endpoints member answers and accepts this node's client certificate (etcd runs with --client-cert-auth and the CA that issued it); latchd keeps its current peers and retries",
  },
  LATCH_ERR_DISCOVERY_RECORD_INVALID: {
    exit: 65,
    fix: 'a value under the etcd prefix is not a latch registration (JSON {v, name, address, port, fingerprint}, key = prefix + name): delete it (`etcdctl del KEY`) or fix its writer; latchd ignores it and keeps the record it had',
  },

  // --- latchd: identity, listeners, control socket (daemon/latchd.ts, daemon/control) ----------------
  LATCH_ERR_DAEMON_IDENTITY: {
    exit: 78,
    fix: 'the node certificate must verify against pki.caFile and carry spiffe://<trustDomain>/latch/node/<node> of this config; re-issue it with `latchctl node issue` or fix node/trustDomain/pki paths',
  },
  LATCH_ERR_DAEMON_LISTEN_FAILED: {
    exit: 69,
    fix: 'the address must be configured on this host (in this network namespace) and the port free: check `ip addr` and `ss -ltnp`, or change listen/metrics in the config',
  },
  LATCH_ERR_CONTROL_UNAVAILABLE: {
    exit: 69,
    fix: 'is latchd running? start it (latchd --config FILE), or pass --socket with the controlSocket path of its config',
  },
  LATCH_ERR_CONTROL_IN_USE: {
    exit: 73,
    fix: 'another latchd already serves this control socket: stop it first, or give this daemon another controlSocket',
  },
  LATCH_ERR_CONTROL_PERMISSION: {
    exit: 77,
    fix: 'the control socket is 0600: run latchctl as the user latchd runs as (root)',
  },
  LATCH_ERR_CONTROL_PROTOCOL: {
    exit: 76,
    fix: 'latchctl and latchd disagree on the control protocol: run the same latch version for both',
  },
  LATCH_ERR_SYSTEMD_NOTIFY: {
    exit: 69,
    fix: 'latchd could not write to $NOTIFY_SOCKET (sd_notify): run it from its systemd unit (Type=notify, packaging/debian/latchd.service) or unset NOTIFY_SOCKET; without the message systemd fails the start after TimeoutStartSec',
  },

  // --- policy files (daemon/policy) --------------------------------------------------------------
  LATCH_ERR_POLICY_INVALID: {
    exit: 65,
    fix: 'fix every problem listed as FILE:LINE:COL (see daemon/policy/example.yaml for the format); a running latchd keeps its current policy until the file is valid',
  },
  LATCH_ERR_POLICY_MISSING: {
    exit: 66,
    fix: 'create the policy file (see daemon/policy/example.yaml) or give the right path',
  },
  LATCH_ERR_POLICY_UNREADABLE: {
    exit: 74,
    fix: 'give a regular, readable UTF-8 file; check its permissions and that the path is not a directory',
  },
  LATCH_ERR_POLICY_NO_TESTS: {
    exit: 65,
    fix: 'add a tests: section, e.g. tests: [{from: spiffe://td/ns/a/sa/x, to: spiffe://td/ns/b/sa/y, port: tcp/443, expect: allow}]',
  },
  LATCH_ERR_POLICY_TEST_FAILED: {
    exit: 1,
    fix: 'each FAIL line names the pair, what the test wanted and what the policy gives: change the allow rules or the test',
  },

  // --- trust lifecycle (daemon/identity: revocation list, PKI hot reload) --------------------------
  LATCH_ERR_REVOCATION_INVALID: {
    exit: 65,
    fix: 'fix the revocation list (format in the README, "Revocation list"): version: 1, trustDomain, revoked: [{node|spiffeId|serial, reason?}]; a running latchd keeps its current list until the file is valid',
  },
  LATCH_ERR_PKI_RELOAD_REJECTED: {
    exit: 65,
    fix: "the new PKI files were refused and latchd kept running with the previous ones: fix what the message names (the node certificate must verify against the new trust bundle, match its key and name this node; the intermediate must be this node's and chain to the bundle), then save the files again",
  },
  LATCH_ERR_PKI_ROTATION: {
    exit: 65,
    fix: 'follow the rotation runbook in the README: `latchctl ca rotate`, distribute ca/root.crt, renew every node with `latchctl node renew NODE` and distribute its files, then `latchctl ca retire`',
  },

  // --- lab (daemon/lab: namespaces, mounts, daemons on one machine) --------------------------------
  LATCH_ERR_LAB_NOT_ROOT: { exit: 77, fix: 'run the lab as root (it creates network and mount namespaces)' },
  LATCH_ERR_LAB_BAD_SIZE: {
    exit: 64,
    fix: 'give --nodes and --workloads as whole numbers within the stated range',
  },
  LATCH_ERR_LAB_SHAPE_CONFLICT: {
    exit: 65,
    fix: 'run `latchctl lab down` first to build a lab of another size, or omit --nodes/--workloads to keep this one',
  },
  LATCH_ERR_LAB_NOT_UP: { exit: 69, fix: 'start the lab with `latchctl lab up`' },
  LATCH_ERR_LAB_UNKNOWN_TARGET: {
    exit: 64,
    fix: 'name a node (node1) or a workload (node1-w1) of the running lab; `latchctl lab status` lists them',
  },
  LATCH_ERR_LAB_TOOL_MISSING: {
    exit: 69,
    fix: 'install the missing program (scripts/setup installs everything the lab needs)',
  },
  LATCH_ERR_LAB_COMMAND_FAILED: {
    exit: 70,
    fix: 'see the command and its output above; `latchctl lab down` then `latchctl lab up` rebuilds from scratch',
  },
  LATCH_ERR_LAB_DAEMON_NOT_BUILT: { exit: 69, fix: 'build latch first: `npm run build` (or scripts/setup)' },
  LATCH_ERR_LAB_DAEMON_DIED: {
    exit: 69,
    fix: 'read the tail of the log shown (full log in /run/latch-lab/<node>/latchd.log), fix the cause, run `latchctl lab up` again',
  },
  LATCH_ERR_LAB_DAEMON_TIMEOUT: {
    exit: 69,
    fix: 'the daemon runs but never opened its control socket; read /run/latch-lab/<node>/latchd.log',
  },
  LATCH_ERR_LAB_PLAIN_WITH_DAEMONS: {
    exit: 69,
    fix: 'plain underlay routes are for a lab without latchd: `latchctl lab down`, then `latchctl lab up --no-daemons` (the benchmark does this itself)',
  },
  LATCH_ERR_LAB_TEARDOWN_INCOMPLETE: {
    exit: 74,
    fix: 'run `latchctl lab down` again; if it persists, the listed leftovers are busy (a shell inside a lab namespace?)',
  },

  // --- WireGuard transport (daemon/transport) -----------------------------------------------------
  LATCH_ERR_WG_KEY_INVALID: {
    exit: 65,
    fix: 'the WireGuard private key file must hold one base64 key as `wg genkey` writes it; delete it to have latchd create a new one',
  },
  LATCH_ERR_WG_KEY_PERMISSIONS: {
    exit: 77,
    fix: 'the WireGuard private key must not be readable by group or others: chmod 600 the key file',
  },
  LATCH_ERR_WG_KEY_WRITE_FAILED: {
    exit: 73,
    fix: 'check that the directory of wireguard.privateKeyFile exists or can be created, is writable and has free space',
  },
  LATCH_ERR_WG_KERNEL_UNSUPPORTED: {
    exit: 69,
    fix: 'this kernel has no WireGuard module: set wireguard.backend to auto or userspace (wireguard-go), or load the module (modprobe wireguard)',
  },
  LATCH_ERR_WG_USERSPACE_FAILED: {
    exit: 69,
    fix: 'install wireguard-go (apt-get install wireguard-go) and check that /dev/net/tun exists and /var/run/wireguard is writable',
  },
  LATCH_ERR_WG_INTERFACE_CONFLICT: {
    exit: 73,
    fix: 'a link with the configured name exists but is not a WireGuard interface latch can drive: delete it (ip link del NAME) or set another wireguard.interface',
  },
  LATCH_ERR_WG_COMMAND_FAILED: {
    exit: 69,
    fix: "check that wireguard-tools (`wg`) is installed and the interface exists (`wg show`); the stderr of `wg`, or the socket and errno of wireguard-go's UAPI (/var/run/wireguard/IF.sock), is in the details",
  },
  LATCH_ERR_WG_NETLINK_FAILED: {
    exit: 74,
    fix: 'check that latchd runs as root (CAP_NET_ADMIN) in the right network namespace; the kernel error is in the message',
  },

  // --- IPsec transport (ESP through XFRM netlink) ------------------------------------------------
  LATCH_ERR_IPSEC_KERNEL_UNSUPPORTED: {
    exit: 69,
    fix: 'this kernel has no ESP/XFRM support (esp4, xfrm_user, xfrm_interface and rfc4106(gcm(aes)) are needed): use transport: wireguard, or run a kernel with them (scripts/kernel-lane builds one)',
  },
  LATCH_ERR_IPSEC_NETLINK_FAILED: {
    exit: 74,
    fix: 'check that latchd runs as root (CAP_NET_ADMIN) in the right network namespace; the kernel error is in the message',
  },

  // --- environment --------------------------------------------------------------------------------
  LATCH_ERR_TIME_SCALE_INVALID: {
    exit: 78,
    fix: 'set LATCH_TIME_SCALE to a number from 1 to 1000 (e.g. 15 in the real-kernel lane), or unset it',
  },

  // --- engine (daemon/engine) ----------------------------------------------------------------------
  LATCH_ERR_ENGINE_BAD_PEER: {
    exit: 65,
    fix: 'the peer session has a malformed field (named in the message): WireGuard keys are base64 of 32 bytes, endpoint ip:port, addresses CIDRs',
  },
  LATCH_ERR_ENGINE_NOT_STARTED: {
    exit: 70,
    fix: 'call engine.start() before reconciling; this is a bug in the caller',
  },
  LATCH_ERR_ENGINE_STOPPED: { exit: 70, fix: 'the engine was stopped; create a new one with createEngine()' },

  // --- eBPF datapath (bpf/, native/, daemon/datapath) -----------------------------------------------
  LATCH_ERR_BPF_ADDON_MISSING: {
    exit: 69,
    fix: 'build the native addon: run scripts/build (needs g++, make, python3, libbpf-dev, libelf-dev, zlib1g-dev; scripts/setup installs them)',
  },
  LATCH_ERR_BPF_OBJECT_MISSING: {
    exit: 66,
    fix: 'build the eBPF objects with scripts/build (make -C bpf), or fix the object path',
  },
  LATCH_ERR_BPF_OBJECT_INVALID: {
    exit: 65,
    fix: 'rebuild the eBPF objects with scripts/build; the file is not a valid BPF ELF object',
  },
  LATCH_ERR_BPF_LOAD_FAILED: {
    exit: 69,
    fix: 'the kernel rejected the program; the `log` detail has the verifier output. Check that the kernel has BPF, BTF and tc clsact support and rebuild',
  },
  LATCH_ERR_BPF_PIN_INCOMPATIBLE: {
    exit: 78,
    fix: 'a map pinned under the pin dir has another layout (older latch version?). Remove the pinned map file (this resets that state and drops traffic until the daemon re-writes it) or use another pin dir',
  },
  LATCH_ERR_BPF_PIN_FAILED: {
    exit: 73,
    fix: 'check that the pin dir is on a mounted bpffs and writable by this user',
  },
  LATCH_ERR_BPF_NOT_PINNED: {
    exit: 66,
    fix: 'the datapath is not loaded at that pin dir: start latchd (it loads and pins it) or pass the right pin dir',
  },
  LATCH_ERR_BPF_NO_BPFFS: {
    exit: 69,
    fix: 'mount the BPF file system: mount -t bpf bpf /sys/fs/bpf (scripts/setup does this)',
  },
  LATCH_ERR_BPF_PERMISSION: { exit: 77, fix: 'run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)' },
  LATCH_ERR_BPF_INTERFACE_UNKNOWN: {
    exit: 65,
    fix: 'give an existing interface name or index (`ip link` lists them) in the right network namespace',
  },
  LATCH_ERR_BPF_ATTACH_FAILED: {
    exit: 69,
    fix: 'check that the interface exists and that the kernel supports tc clsact; the message has the errno',
  },
  LATCH_ERR_BPF_MAP_OP_FAILED: {
    exit: 74,
    fix: 'a BPF map operation failed; the message has the errno. Check the pinned maps with `bpftool map show`',
  },
  LATCH_ERR_BPF_MAP_FULL: {
    exit: 69,
    fix: 'the map is full: remove stale entries (expired auth pairs, departed workloads) or raise its size in bpf/include/latch_abi.h',
  },
  LATCH_ERR_BPF_TEST_RUN_FAILED: {
    exit: 70,
    fix: 'BPF_PROG_TEST_RUN failed; the message has the errno (the frame must be at least an Ethernet header)',
  },
  LATCH_ERR_BPF_RINGBUF_FAILED: {
    exit: 74,
    fix: 'the events ring buffer could not be read; only one consumer (latchd) may read it at a time',
  },
  LATCH_ERR_BPF_BAD_ARGUMENT: {
    exit: 65,
    fix: 'see the message: a datapath entry or call argument is out of range',
  },
  LATCH_ERR_BPF_ABI_MISMATCH: {
    exit: 70,
    fix: 'the TypeScript encoders do not match bpf/include/latch_abi.h: run `npx tsx daemon/datapath/abi/generate.ts` and rebuild',
  },

  // --- identity-pair authentication (daemon/pairauth) ---------------------------------------------
  LATCH_ERR_PAIRAUTH_BAD_CREDENTIALS: {
    exit: 65,
    fix: "give the workload's SVID chain (leaf first, then its node intermediate) whose one URI SAN is the workload's SPIFFE ID, with the private key of that leaf; re-issue it with `latchctl identity issue` if unsure",
  },
  LATCH_ERR_PAIRAUTH_NO_DATAPATH: {
    exit: 69,
    fix: 'pair authentication writes auth entries into the eBPF identity datapath: enable the datapath in the config (see the datapath block), or remove policyFile to run latchd without pair authentication',
  },
  LATCH_ERR_PAIRAUTH_BAD_ARGUMENT: {
    exit: 70,
    fix: 'a pair-auth planner/scheduler argument is out of range (named in the message); this is a bug in the caller',
  },

  // --- datapath integration in latchd (daemon/engine/datapath*, identities*) ------------------------
  LATCH_ERR_DATAPATH_IDENTITIES_FILE: {
    exit: 74,
    fix: 'check datapath.identitiesFile in the latchd config: the directory must exist and be writable by latchd, and the file must be the JSON latchd wrote (move a damaged one away; latchd then starts a fresh allocation and clears the auth map)',
  },
  LATCH_ERR_DATAPATH_DISABLED: {
    exit: 69,
    fix: 'this latchd runs with datapath.enabled: false; enable it in the config and restart latchd',
  },
  LATCH_ERR_DATAPATH_BAD_REQUEST: {
    exit: 64,
    fix: 'give SPIFFE IDs like spiffe://example.org/ns/shop/sa/web and a TTL such as 30s, 10m or 1h',
  },

  // --- runtime workload registration (control socket, latchctl workload, latch-cni) ---------------
  LATCH_ERR_WORKLOAD_BAD_REQUEST: {
    exit: 65,
    fix: "give the workload's SPIFFE ID in this node's trust domain, IPs inside this node's workloadCidrs that no other local workload uses, and an existing host-side interface (or --netns PATH --netns-interface IF)",
  },
  LATCH_ERR_WORKLOAD_EXISTS: {
    exit: 65,
    fix: 'that SPIFFE ID is already a local workload with other IPs or another interface: remove it first (`latchctl workload remove ID`), or register the same IPs and interface again (which is a no-op)',
  },
  LATCH_ERR_WORKLOAD_STATIC: {
    exit: 65,
    fix: 'this workload comes from `workloads:` in latchd.yaml; remove it there and restart latchd',
  },
  LATCH_ERR_WORKLOAD_LIMIT: {
    exit: 69,
    fix: 'this latchd already hosts registrations.max workloads; remove some, or raise registrations.max in latchd.yaml',
  },
  LATCH_ERR_WORKLOAD_FAILED: {
    exit: 70,
    fix: 'latchd could not set the workload up (SVID, datapath or state file, see the message); nothing was kept. Check the latchd log, fix the cause and register again',
  },
  LATCH_ERR_WORKLOAD_STATE_FILE: {
    exit: 78,
    fix: 'the registrations file (registrations.file) is damaged: fix or remove it (its workloads then need registering again) and restart latchd',
  },
  LATCH_ERR_WORKLOAD_UNAVAILABLE: {
    exit: 69,
    fix: 'latchd stopped (or failed to start, e.g. pair authentication) before it served workload registrations; nothing was registered. See the latchd log for the cause, fix it, start latchd and register again',
  },
  LATCH_ERR_WORKLOAD_NOT_READY: {
    exit: 69,
    fix: "the workload is registered but some of its allowed pairs were not authenticated in time: check `latchctl status` (peers up, recent pair failures) and the peer's latchd log",
  },

  // --- the CNI plugin (latch-cni) ------------------------------------------------------------------
  LATCH_ERR_CNI_NO_IDENTITY: {
    exit: 65,
    fix: 'no identity rule of the latch-cni configuration matched this container: add a rule for it (identity.rules or the selector file), or pass K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS for the template',
  },
  LATCH_ERR_CNI_NO_INTERFACE: {
    exit: 69,
    fix: 'latch-cni could not find the container interface or its host-side veth peer: the main plugin must create a veth (bridge or ptp) named CNI_IFNAME in CNI_NETNS',
  },

  // --- benchmarks (bench/, scripts/bench) ----------------------------------------------------------
  LATCH_ERR_BENCH_TOOL_FAILED: {
    exit: 70,
    fix: 'a load tool, haproxy or iperf3 of the benchmark failed; its output is quoted above. Check `latchctl lab status` and run `npm run bench -- --quick` again',
  },
  LATCH_ERR_BENCH_NO_PATH: {
    exit: 69,
    fix: 'the two benchmark workloads cannot reach each other in this setup; check `latchctl lab status` (peers up, pair authenticated) and the latchd logs under /run/latch-lab/<node>/',
  },

  // --- internal ------------------------------------------------------------------------------------
  LATCH_ERR_INTERNAL_BUG: { exit: 70, fix: 'this is a bug in latch; please report it with the log' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export interface LatchErrorOptions {
  cause?: unknown
  /** Structured facts for logs, `--json` output and tests (never key material). */
  details?: Record<string, unknown>
}

/** The one error class latch throws on purpose. Match on `code`, never on the message. */
export class LatchError extends Error {
  override readonly name = 'LatchError'
  readonly code: ErrorCode
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: LatchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details ?? {}
  }

  get exitCode(): number {
    return ERRORS[this.code].exit
  }

  get fix(): string {
    return ERRORS[this.code].fix
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, fix: this.fix, ...this.details }
  }
}

export function isLatchError(err: unknown, code?: ErrorCode): err is LatchError {
  return err instanceof LatchError && (code === undefined || err.code === code)
}

/** Wrap anything thrown into a LatchError so callers report it one way. */
export function asLatchError(err: unknown): LatchError {
  if (err instanceof LatchError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new LatchError('LATCH_ERR_INTERNAL_BUG', message, { cause: err })
}

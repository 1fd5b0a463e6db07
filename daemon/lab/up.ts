/**
 * `latchctl lab up`: observe what exists, build only what is missing, say what changed.
 * Running it twice changes nothing ("no change"); a half-built lab (crash, killed test) is
 * completed; a dead latchd is restarted; a daemon whose config changed is restarted.
 */
import { mkdir, readFile, rm } from 'node:fs/promises'
import { formatDurationMs, parseDurationMs } from '../base/duration.js'
import { LatchError } from '../base/errors.js'
import {
  ensureWireguardKey,
  LAB_REKEY_INTERVAL,
  type LabDiscovery,
  type LabPairTuning,
  renderDaemonConfig,
  renderPeers,
  writeIfChanged,
} from './daemon-files.js'
import { daemonNodeArgs, distEntry, findDaemon, startDaemon, waitReady } from './daemons.js'
import { ensureLabEtcd } from './etcd.js'
import { ensureIdentities } from './identities.js'
import { withLabLock } from './lock.js'
import { ensureNodeMountNs, ensureStateDirMount, hostMounts } from './mounts.js'
import { applyTopology, listNetns, netnsPath, observeNetns } from './netns.js'
import {
  dynamicWorkloadNode,
  LAB_NETNS_PATTERN,
  LAB_STATE_DIR,
  type LabPlan,
  labPlan,
  labSize,
  planNetns,
} from './plan.js'
import { LAB_POLICY_FILE, LAB_REVOCATION_FILE, renderLabPolicy, renderLabRevocations } from './policy.js'
import { killAndWait, processesIn } from './procs.js'
import { readState, writeState } from './state.js'
import {
  changeCount,
  describeChanges,
  desiredTopology,
  diffTopology,
  type ObservedNetns,
} from './topology.js'

export interface UpOptions {
  /** Default: the running lab's size, else 3. */
  nodes?: number
  /** Default: the running lab's size, else 2. */
  workloads?: number
  /** latchd re-handshake / PSK rotation period, e.g. "5s". Default: the running lab's, else 120s. */
  rekeyInterval?: string
  /**
   * How daemons find each other (default: the running lab's, else file): a peers file per node, or
   * `etcd`: a 3-member etcd cluster in the underlay netns, every latchd registering and watching (no
   * peers file). A lab on etcd can grow: `up --nodes N+1` adds a node and touches no other node.
   */
  discovery?: LabDiscovery
  /** Start a latchd per node (default true). false builds namespaces and identities only. */
  daemons?: boolean
  /** eBPF enforcement in every latchd (datapath.enabled); default false: WireGuard-only mesh. */
  enforce?: boolean
  /** latchd svidTtl (10s … 1d), e.g. "20s" to see SVID renewals within a test. Default: latchd's (1h). */
  svidTtl?: string
  /** latchd peerGracePeriod (0s … 1d). Default: latchd's (180s). Not remembered, like svidTtl. */
  peerGracePeriod?: string
  /** latchd pairAuth.ttl (5s … 1d): the longest an auth entry lives. Default: latchd's (10m). */
  pairAuthTtl?: string
  /** What carries the mesh: `wireguard` or `ipsec` (ESP via XFRM). Default: the running lab's, else wireguard. */
  transport?: 'wireguard' | 'ipsec'
  /** latchd wireguard.userspaceBinary (the benchmark compares wireguard-go builds). Not remembered. */
  wireguardGo?: string
  /** latchd wireguard.userspaceOffloads (default true). Not remembered. */
  userspaceOffloads?: boolean
  /** latchd wireguard.backend. Default auto (kernel WireGuard when the kernel has it). Not remembered. */
  wireguardBackend?: 'auto' | 'kernel' | 'userspace'
  /**
   * Extra Node.js arguments for the latchd of the named nodes, e.g. `{ node2: ['--cpu-prof',
   * '--cpu-prof-dir=/tmp/prof'] }` (scripts/bench-cni --cpu-prof). A running daemon started with other
   * arguments is restarted. Not remembered: an `up` without them restarts such a daemon without them.
   */
  latchdNodeArgs?: Readonly<Record<string, readonly string[]>>
  // svidTtl and pairAuthTtl are not remembered (like enforce): an `up` without them writes latchd's
  // defaults back and restarts the daemons whose config that changes
}

export interface DaemonReport {
  node: string
  pid: number
  /** started now, restarted (config changed or it had died), or already running. */
  state: 'started' | 'restarted' | 'running'
}

export interface UpReport {
  changed: boolean
  /** One line per change made, in order; empty when nothing changed. */
  actions: string[]
  plan: LabPlan
  rekeyInterval: string
  discovery: LabDiscovery
  daemons: DaemonReport[]
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new LatchError(
      'LATCH_ERR_LAB_NOT_ROOT',
      'the lab needs root: it creates network and mount namespaces',
    )
  }
}

export async function labUp(opts: UpOptions = {}): Promise<UpReport> {
  requireRoot()
  return withLabLock(() => up(opts))
}

async function up(opts: UpOptions): Promise<UpReport> {
  const state = await readState()
  const size = labSize(opts.nodes ?? state?.size.nodes, opts.workloads ?? state?.size.workloads)
  const rekeyInterval = normaliseRekey(opts.rekeyInterval ?? state?.rekeyInterval ?? LAB_REKEY_INTERVAL)
  const transport = opts.transport ?? state?.transport ?? 'wireguard'
  const tuning = { ...pairTuning(opts), transport }
  const discovery = opts.discovery ?? state?.discovery ?? 'file'
  const existing = await listNetns(LAB_NETNS_PATTERN)
  const plan = labPlan(size)
  const wanted = new Set(planNetns(plan))
  // dynamic workloads (`lab workload add`) of this lab's nodes are not strays
  const strays = existing.filter((n) => !wanted.has(n) && dynamicWorkloadNode(plan, n) === undefined)
  // with etcd nobody else's config names the nodes, so the lab may grow; a peers-file lab may not
  const grows =
    state !== undefined &&
    discovery === 'etcd' &&
    state.discovery === 'etcd' &&
    state.size.workloads === size.workloads &&
    size.nodes > state.size.nodes
  if (state && state.discovery !== discovery) {
    throw new LatchError(
      'LATCH_ERR_LAB_SHAPE_CONFLICT',
      `the running lab uses discovery ${state.discovery}; asked for ${discovery}`,
      { details: { running: state.discovery, requested: discovery } },
    )
  }
  if (
    (state && !grows && (state.size.nodes !== size.nodes || state.size.workloads !== size.workloads)) ||
    strays.length > 0
  ) {
    throw new LatchError(
      'LATCH_ERR_LAB_SHAPE_CONFLICT',
      `a lab of another size is up (${state ? `${state.size.nodes} nodes × ${state.size.workloads} workloads` : `namespaces ${strays.join(', ')}`}); asked for ${size.nodes} × ${size.workloads}`,
      { details: { running: state?.size, requested: size, strays } },
    )
  }
  const actions: string[] = []

  // the state dir first: everything below lives in it, and the mount pins need it private
  await mkdir(LAB_STATE_DIR, { recursive: true })
  if (await ensureStateDirMount(await hostMounts())) actions.push(`private mount ${LAB_STATE_DIR}`)
  const recorded = {
    version: 1 as const,
    size,
    rekeyInterval,
    transport,
    daemons: opts.daemons ?? state?.daemons ?? true,
    discovery,
    etcdStopped: state?.etcdStopped ?? [],
    createdAt: state?.createdAt ?? new Date().toISOString(),
    pids: state?.pids ?? {},
  }
  // recorded before building, so `exec`/`status`/a second `up` know the shape of a half-built lab
  await writeState(recorded)

  // network: observe every existing lab netns, apply only the difference
  const desired = desiredTopology(plan)
  const observed = new Map<string, ObservedNetns>()
  await Promise.all(
    desired
      .filter((ns) => existing.includes(ns.name))
      .map(async (ns) => observed.set(ns.name, await observeNetns(ns))),
  )
  const changes = diffTopology(desired, observed)
  if (changeCount(changes) > 0) {
    await applyTopology(changes)
    actions.push(...describeChanges(changes))
  }

  // one persistent mount namespace per node
  const mounts = await hostMounts()
  for (const list of await Promise.all(plan.nodes.map((n) => ensureNodeMountNs(n, mounts))))
    actions.push(...list)

  actions.push(...(await ensureIdentities(plan)))
  if (discovery === 'etcd') actions.push(...(await ensureLabEtcd(plan, recorded.etcdStopped)))

  // the sample policy is written once: later edits (an operator's, a test's) are hot-reloaded, not undone
  if ((await readFile(LAB_POLICY_FILE, 'utf8').catch(() => undefined)) === undefined) {
    await writeIfChanged(LAB_POLICY_FILE, renderLabPolicy(plan))
    actions.push(LAB_POLICY_FILE)
  }
  if ((await readFile(LAB_REVOCATION_FILE, 'utf8').catch(() => undefined)) === undefined) {
    await writeIfChanged(LAB_REVOCATION_FILE, renderLabRevocations(plan))
    actions.push(LAB_REVOCATION_FILE)
  }
  const configChanged = new Set<string>()
  for (const node of plan.nodes) {
    if (
      await writeIfChanged(
        node.configFile,
        renderDaemonConfig(plan, node, rekeyInterval, opts.enforce ?? false, tuning, discovery),
      )
    ) {
      actions.push(`${node.configFile}`)
      configChanged.add(node.name)
    }
    if (discovery === 'file') {
      if (await writeIfChanged(node.peersFile, renderPeers(plan, node))) actions.push(`${node.peersFile}`)
    } else await rm(node.peersFile, { force: true })
    if (await ensureWireguardKey(node)) actions.push(`${node.wgKeyFile}`)
  }

  const started = recorded.daemons
    ? await ensureDaemons(plan, configChanged, recorded.pids, opts.latchdNodeArgs ?? {})
    : { reports: [] }
  for (const r of started.reports) {
    recorded.pids[r.node] = r.pid
    if (r.state !== 'running') actions.push(`latchd ${r.node} ${r.state} (pid ${r.pid})`)
  }
  await writeState(recorded)
  if (started.failure) throw started.failure
  return { changed: actions.length > 0, actions, plan, rekeyInterval, discovery, daemons: started.reports }
}

/**
 * Starts every daemon that is not running (restarting those whose config changed), then waits for
 * all of them: every daemon gets its chance, and the first failure is returned with the count of
 * the others that failed.
 */
async function ensureDaemons(
  plan: LabPlan,
  configChanged: Set<string>,
  pids: Record<string, number>,
  nodeArgs: Readonly<Record<string, readonly string[]>>,
): Promise<{ reports: DaemonReport[]; failure?: unknown }> {
  const entry = distEntry('latchd')
  const procs = await processesIn(plan.nodes.map((n) => netnsPath(n.netns)))
  const reports = await Promise.all(
    plan.nodes.map(async (node): Promise<DaemonReport> => {
      const running = findDaemon(node, procs)
      const args = nodeArgs[node.name] ?? []
      const sameArgs = running !== undefined && daemonNodeArgs(running).join('\0') === args.join('\0')
      if (running && sameArgs && !configChanged.has(node.name))
        return { node: node.name, pid: running.pid, state: 'running' }
      const before = running !== undefined || pids[node.name] !== undefined
      if (running) await killAndWait([running.pid])
      const pid = await startDaemon(node, entry, args)
      return { node: node.name, pid, state: before ? 'restarted' : 'started' }
    }),
  )
  const results = await Promise.allSettled(
    reports.map((r) => waitReady(plan.nodes.find((n) => n.name === r.node)!, r.pid)),
  )
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
  const first = failed[0]
  if (first instanceof LatchError && failed.length > 1) first.details['otherNodesFailed'] = failed.length - 1
  return first === undefined ? { reports } : { reports, failure: first }
}

/** --svid-ttl / --pair-auth-ttl, checked against latchd's bounds before anything is built. */
function pairTuning(opts: UpOptions): LabPairTuning {
  const out: LabPairTuning = {}
  const check = (flag: string, value: string, minMs: number): string => {
    const ms = parseDurationMs(value)
    if (ms === undefined || ms < minMs || ms > DAY_MS) {
      throw new LatchError(
        'LATCH_ERR_USAGE_BAD_ARGUMENT',
        `${flag} must be a duration from ${formatDurationMs(minMs)} to 1d such as 20s or 5m, got ${JSON.stringify(value)}`,
      )
    }
    return formatDurationMs(ms)
  }
  if (opts.svidTtl !== undefined) out.svidTtl = check('--svid-ttl', opts.svidTtl, 10_000)
  if (opts.peerGracePeriod !== undefined)
    out.peerGracePeriod = check('peerGracePeriod', opts.peerGracePeriod, 0)
  if (opts.pairAuthTtl !== undefined) out.pairAuthTtl = check('--pair-auth-ttl', opts.pairAuthTtl, 5_000)
  if (opts.wireguardGo !== undefined) out.wireguardGo = opts.wireguardGo
  if (opts.userspaceOffloads !== undefined) out.userspaceOffloads = opts.userspaceOffloads
  if (opts.wireguardBackend !== undefined) out.wireguardBackend = opts.wireguardBackend
  return out
}

const DAY_MS = 86_400_000

function normaliseRekey(value: string): string {
  const ms = parseDurationMs(value)
  if (ms === undefined || ms < 1000) {
    throw new LatchError(
      'LATCH_ERR_USAGE_BAD_ARGUMENT',
      `--rekey-interval must be a duration of at least 1s such as 5s or 2m, got ${JSON.stringify(value)}`,
    )
  }
  return formatDurationMs(ms)
}

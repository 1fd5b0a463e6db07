/**
 * latch-cni's commands (CNI spec 1.0.0), with latchd behind an injected client so the conformance
 * tests drive the real binary and the unit tests this function. Nothing here touches the kernel:
 * it finds the host side of the container's veth (from the netns), latchd issues the SVID and
 * attaches the datapath.
 *
 * ADD: the IPs of CNI_IFNAME from prevResult (a chained plugin must follow one that assigned them),
 *      the identity by the documented rule (identity.ts), `workload_add` with netns + interface and
 *      owner `cni:<CNI_CONTAINERID>:<CNI_IFNAME>`, waiting up to readyTimeout for the pairs the
 *      policy allows to be authenticated; prints prevResult unchanged. latchd unreachable: code 11,
 *      and the container gets no network (better than an unprotected workload). Not ready in time:
 *      onTimeout fail (default) removes the registration again and fails with code 101; succeed
 *      prints the result and says so on stderr.
 * DEL: `workload_remove` by owner; idempotent (nothing registered is fine). With latchd down it
 *      still succeeds: the main plugin's DEL removes the veth, and latchd drops a registration whose
 *      interface vanished when it starts.
 * CHECK: the registration exists with prevResult's IPs and its datapath is attached.
 * VERSION: the versions whose results this plugin reads.
 */

import { asLatchError } from '../base/errors.js'
import type { WorkloadAddRequest, WorkloadRemoveRequest, WorkloadReport } from '../wire/workload.js'
import { type IdentityRule, type NetConf, netConfSchema } from './config.js'
import { chooseIdentity } from './identity.js'
import {
  CNI_ERR,
  CNI_VERSION,
  type CniError,
  containerIps,
  parseCniArgs,
  SUPPORTED_VERSIONS,
} from './spec.js'

export interface LatchdClient {
  add(socket: string, req: Omit<WorkloadAddRequest, 'cmd'>): Promise<WorkloadReport>
  remove(socket: string, req: Omit<WorkloadRemoveRequest, 'cmd'>): Promise<{ removed: boolean }>
  list(socket: string): Promise<WorkloadReport[]>
}

export interface PluginDeps {
  latchd: LatchdClient
  /** The host-side end (in this network namespace) of the veth `ifname` inside `netns`. */
  hostVeth(netns: string, ifname: string): Promise<{ name: string; ifindex: number }>
  /** Rules of a selector file (YAML/JSON `{rules: [...]}`); throws a message when unreadable. */
  readSelectorFile(path: string): Promise<IdentityRule[]>
  /** Diagnostics for the runtime's log (stderr). */
  warn(message: string): void
}

export interface PluginOutput {
  /** What goes to stdout (a result, an error object, or nothing). */
  stdout: string
  exitCode: number
}

class CniFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: string,
  ) {
    super(message)
  }
}

function errorOutput(version: string, e: CniFailure): PluginOutput {
  const body: CniError = { cniVersion: version, code: e.code, msg: e.message }
  if (e.details !== undefined) body.details = e.details
  return { stdout: `${JSON.stringify(body)}\n`, exitCode: 1 }
}

function need(env: NodeJS.ProcessEnv, key: string): string {
  const v = env[key]
  if (v === undefined || v === '') throw new CniFailure(CNI_ERR.invalidEnvironment, `${key} is not set`)
  return v
}

function parseConf(stdin: string): NetConf {
  let json: unknown
  try {
    json = JSON.parse(stdin)
  } catch {
    throw new CniFailure(CNI_ERR.decodeFailure, 'the network configuration on stdin is not JSON')
  }
  const version = (json as { cniVersion?: unknown })?.cniVersion
  if (typeof version === 'string' && !(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniFailure(
      CNI_ERR.incompatibleVersion,
      `latch-cni supports cniVersion ${SUPPORTED_VERSIONS.join(', ')}, not ${version}`,
    )
  }
  const r = netConfSchema.safeParse(json)
  if (!r.success) {
    const issue = r.error.issues[0]
    const where = issue?.path.join('.') || '(top level)'
    const unknown = issue?.code === 'unrecognized_keys'
    throw new CniFailure(
      unknown ? CNI_ERR.unsupportedField : CNI_ERR.invalidConfig,
      `latch-cni configuration: ${where}: ${issue?.message ?? 'invalid'}`,
    )
  }
  return r.data
}

/** latchd's own error, as a CNI error: unreachable → try again later; refusals carry the latch code. */
function fromLatchd(err: unknown, what: string): CniFailure {
  const e = asLatchError(err)
  const remote = (e.details?.remote as { code?: string } | undefined)?.code ?? e.code
  if (e.code === 'LATCH_ERR_CONTROL_UNAVAILABLE' || e.code === 'LATCH_ERR_CONTROL_PERMISSION') {
    return new CniFailure(
      CNI_ERR.tryAgainLater,
      `latchd is not reachable (${e.message}); ${what} refused so that no workload runs unprotected`,
      `${e.code}: ${e.fix}`,
    )
  }
  return new CniFailure(CNI_ERR.latchdRefused, `${what}: ${e.message}`, `${remote}: ${e.fix}`)
}

function owner(env: NodeJS.ProcessEnv): string {
  return `cni:${need(env, 'CNI_CONTAINERID')}:${need(env, 'CNI_IFNAME')}`
}

async function add(conf: NetConf, env: NodeJS.ProcessEnv, deps: PluginDeps): Promise<PluginOutput> {
  const netns = need(env, 'CNI_NETNS')
  const ifname = need(env, 'CNI_IFNAME')
  const containerId = need(env, 'CNI_CONTAINERID')
  if (conf.prevResult === undefined) {
    throw new CniFailure(
      CNI_ERR.invalidConfig,
      'latch-cni is a chained plugin: put it after a main plugin that assigns IPs (bridge or ptp with host-local) in a conflist',
    )
  }
  const ips = containerIps(conf.prevResult, ifname, netns)
  if (ips.length === 0) {
    throw new CniFailure(CNI_ERR.invalidConfig, `the previous result has no IP for ${ifname} in ${netns}`)
  }
  let fileRules: IdentityRule[] = []
  if (conf.identity.selectorFile !== undefined) {
    try {
      fileRules = await deps.readSelectorFile(conf.identity.selectorFile)
    } catch (err) {
      throw new CniFailure(CNI_ERR.ioFailure, `identity.selectorFile: ${(err as Error).message}`)
    }
  }
  const who = chooseIdentity(
    { containerId, args: parseCniArgs(env.CNI_ARGS) },
    fileRules,
    conf.identity.rules,
    conf.identity.template,
  )
  if (!who.ok) throw new CniFailure(CNI_ERR.noIdentity, who.message, 'LATCH_ERR_CNI_NO_IDENTITY')
  const me = owner(env)
  let host: { name: string }
  try {
    host = await deps.hostVeth(netns, ifname)
  } catch (err) {
    throw new CniFailure(
      CNI_ERR.unknownContainer,
      `cannot find the host side of ${ifname} in ${netns}: ${(err as Error).message}`,
      'LATCH_ERR_CNI_NO_INTERFACE',
    )
  }
  let w: WorkloadReport
  try {
    w = await deps.latchd.add(conf.controlSocket, {
      id: who.spiffeId,
      ips,
      interface: host.name,
      netns,
      netnsInterface: ifname,
      owner: me,
      waitMs: conf.readyTimeout,
    })
  } catch (err) {
    throw fromLatchd(err, `registering ${who.spiffeId} with latchd`)
  }
  if (!w.ready) {
    const pending = w.pairs?.pending.join(', ') ?? ''
    if (conf.onTimeout === 'fail') {
      await deps.latchd.remove(conf.controlSocket, { owner: me }).catch(() => undefined)
      throw new CniFailure(
        CNI_ERR.notReady,
        `the allowed pairs of ${w.id} were not authenticated within ${conf.readyTimeout} ms (pending: ${pending}); the registration was undone`,
        'LATCH_ERR_WORKLOAD_NOT_READY',
      )
    }
    deps.warn(
      `latch-cni: ${w.id} is registered but not ready after ${conf.readyTimeout} ms (pending: ${pending})`,
    )
  }
  return { stdout: `${JSON.stringify({ ...conf.prevResult, cniVersion: conf.cniVersion })}\n`, exitCode: 0 }
}

async function del(conf: NetConf, env: NodeJS.ProcessEnv, deps: PluginDeps): Promise<PluginOutput> {
  const me = owner(env)
  try {
    await deps.latchd.remove(conf.controlSocket, { owner: me })
  } catch (err) {
    const e = fromLatchd(err, `removing ${me}`)
    if (e.code !== CNI_ERR.tryAgainLater) throw e
    // the veth goes with the main plugin's DEL; latchd drops the registration when it starts
    deps.warn(`latch-cni: ${e.message}; latchd drops ${me} on start once its interface is gone`)
  }
  return { stdout: '', exitCode: 0 }
}

async function check(conf: NetConf, env: NodeJS.ProcessEnv, deps: PluginDeps): Promise<PluginOutput> {
  const ifname = need(env, 'CNI_IFNAME')
  const netns = need(env, 'CNI_NETNS')
  if (conf.prevResult === undefined)
    throw new CniFailure(CNI_ERR.invalidConfig, 'CHECK needs prevResult (the cached result of ADD)')
  const me = owner(env)
  let list: WorkloadReport[]
  try {
    list = await deps.latchd.list(conf.controlSocket)
  } catch (err) {
    throw fromLatchd(err, 'checking the registration')
  }
  const w = list.find((x) => x.owner === me)
  if (w === undefined)
    throw new CniFailure(CNI_ERR.checkFailed, `latchd has no workload registered for ${me}`)
  const want = containerIps(conf.prevResult, ifname, netns).sort().join(',')
  if (w.ips.join(',') !== want)
    throw new CniFailure(
      CNI_ERR.checkFailed,
      `${w.id} is registered with ${w.ips.join(', ')}, the result says ${want}`,
    )
  if (w.attached === false)
    throw new CniFailure(CNI_ERR.checkFailed, `the datapath of ${w.id} is not attached to ${w.interface}`)
  return { stdout: '', exitCode: 0 }
}

export async function runPlugin(
  env: NodeJS.ProcessEnv,
  stdin: string,
  deps: PluginDeps,
): Promise<PluginOutput> {
  let version = CNI_VERSION
  try {
    const command = need(env, 'CNI_COMMAND')
    if (command === 'VERSION') {
      return {
        stdout: `${JSON.stringify({ cniVersion: CNI_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] })}\n`,
        exitCode: 0,
      }
    }
    const conf = parseConf(stdin)
    version = conf.cniVersion
    switch (command) {
      case 'ADD':
        return await add(conf, env, deps)
      case 'DEL':
        return await del(conf, env, deps)
      case 'CHECK':
        return await check(conf, env, deps)
      default:
        throw new CniFailure(
          CNI_ERR.invalidEnvironment,
          `CNI_COMMAND ${command} is not ADD, DEL, CHECK or VERSION`,
        )
    }
  } catch (err) {
    if (err instanceof CniFailure) return errorOutput(version, err)
    return errorOutput(
      version,
      new CniFailure(CNI_ERR.ioFailure, `latch-cni failed: ${(err as Error).message}`),
    )
  }
}

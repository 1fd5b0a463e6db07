/**
 * Running a CNI network configuration list the way a container runtime does (libcni's AddNetworkList
 * / DelNetworkList / CheckNetworkList): each plugin binary from CNI_PATH with CNI_COMMAND,
 * CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH in its environment and its own
 * configuration on stdin, `name` and `cniVersion` copied from the list, and the previous plugin's
 * result as `prevResult` (ADD), or the cached ADD result (DEL in reverse order, CHECK in order).
 * The lab's dynamic workloads and the CNI tests use it; real runtimes (podman) do the same in Go.
 */
import { execa } from 'execa'
import { LatchError } from '../base/errors.js'

export interface ConfList {
  cniVersion: string
  name: string
  plugins: Array<Record<string, unknown> & { type: string }>
}

export interface CniInvocation {
  containerId: string
  netns: string
  ifname: string
  /** CNI_ARGS, e.g. K8S_POD_NAMESPACE=lab;K8S_POD_NAME=web */
  args?: string
  /** Directories of plugin binaries (CNI_PATH). */
  path: readonly string[]
  /** Prefix of the command line, e.g. ['nsenter', '--net=/run/netns/x'] to run in a node's netns. */
  wrap?: readonly string[]
}

/** A plugin's CNI error object, as it printed it. */
export interface CniErrorObject {
  cniVersion?: string
  code: number
  msg: string
  details?: string
}

export class CniPluginError extends LatchError {
  constructor(
    readonly plugin: string,
    readonly error: CniErrorObject,
    readonly stderr: string,
  ) {
    super(
      'LATCH_ERR_LAB_COMMAND_FAILED',
      `CNI plugin ${plugin} failed with code ${error.code}: ${error.msg}`,
      {
        details: { plugin, error, stderr },
      },
    )
  }
}

export async function execPlugin(
  conf: Record<string, unknown> & { type: string },
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION',
  inv: CniInvocation,
): Promise<unknown> {
  const env = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifname,
    CNI_ARGS: inv.args ?? '',
    CNI_PATH: inv.path.join(':'),
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
  }
  const bin = inv.path.map((d) => `${d}/${conf.type}`)
  const [cmd, ...args] = [...(inv.wrap ?? []), ...(await firstExisting(bin, conf.type))]
  const r = await execa(cmd as string, args, {
    input: JSON.stringify(conf),
    env,
    extendEnv: false,
    reject: false,
    timeout: 180_000,
  })
  const out = String(r.stdout).trim()
  if (r.exitCode !== 0) {
    let error: CniErrorObject
    try {
      error = JSON.parse(out) as CniErrorObject
    } catch {
      error = {
        code: -1,
        msg: `exit ${r.exitCode}, no CNI error on stdout: ${out || String(r.stderr).trim()}`,
      }
    }
    throw new CniPluginError(conf.type, error, String(r.stderr))
  }
  return out === '' ? undefined : JSON.parse(out)
}

async function firstExisting(paths: string[], type: string): Promise<[string]> {
  const { access } = await import('node:fs/promises')
  for (const p of paths) {
    if (
      await access(p).then(
        () => true,
        () => false,
      )
    )
      return [p]
  }
  throw new LatchError('LATCH_ERR_LAB_COMMAND_FAILED', `no CNI plugin ${type} in ${paths.join(', ')}`)
}

function pluginConf(
  list: ConfList,
  i: number,
  prevResult: unknown,
): Record<string, unknown> & { type: string } {
  const p = list.plugins[i] as Record<string, unknown> & { type: string }
  return {
    ...p,
    cniVersion: list.cniVersion,
    name: list.name,
    ...(prevResult !== undefined && { prevResult }),
  }
}

/** ADD through the list; resolves with the final result (cache it for DEL and CHECK). */
export async function addNetworkList(list: ConfList, inv: CniInvocation): Promise<unknown> {
  let prev: unknown
  for (let i = 0; i < list.plugins.length; i++) prev = await execPlugin(pluginConf(list, i, prev), 'ADD', inv)
  return prev
}

/** DEL through the list in reverse, each plugin given the cached result; every plugin runs. */
export async function delNetworkList(list: ConfList, inv: CniInvocation, cached: unknown): Promise<void> {
  let first: unknown
  for (let i = list.plugins.length - 1; i >= 0; i--) {
    await execPlugin(pluginConf(list, i, cached), 'DEL', inv).catch((err) => {
      first ??= err
    })
  }
  if (first !== undefined) throw first
}

export async function checkNetworkList(list: ConfList, inv: CniInvocation, cached: unknown): Promise<void> {
  for (let i = 0; i < list.plugins.length; i++) await execPlugin(pluginConf(list, i, cached), 'CHECK', inv)
}

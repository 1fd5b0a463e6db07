import { existsSync } from 'node:fs'
import { LatchError } from '../base/errors.js'
import type { CommandRunner } from './runner.js'
import type { WgBackend } from './wg-device.js'
import { parseWgDump, type WgDeviceState } from './wg-dump.js'
import type { WgDesired, WgPlan } from './wg-plan.js'
import { applyWireguardPlan } from './wg-set.js'
import { describeErrno, encodeUapiSet, parseUapiGet, UAPI_GET, uapiErrno } from './wg-uapi.js'
import { UAPI_SOCKET_DIR, uapiRequest, uapiSocketPath } from './wg-uapi-socket.js'

/**
 * How the transport reads and programs its WireGuard device: one read (the whole device) and one
 * write (a whole plan) per reconcile, whichever channel carries them.
 */
export interface WgControl {
  /** `uapi`: wireguard-go's socket, spoken directly; `wg`: the wg(8) tool (kernel: genetlink). */
  readonly via: 'uapi' | 'wg'
  read(): Promise<WgDeviceState>
  apply(plan: WgPlan, desired: WgDesired): Promise<void>
}

/** `wireguard.userspaceControl`: `uapi` (default) or `wg` (the tool, as the kernel backend uses). */
export type UserspaceControl = 'uapi' | 'wg'

export interface ControlChoice {
  iface: string
  backend: WgBackend
  runner: CommandRunner
  privateKeyFile: string
  userspaceControl?: UserspaceControl
  /** Tests: where to look for `<if>.sock` (default /var/run/wireguard). */
  socketDir?: string
}

/**
 * The kernel backend has no UAPI socket: `wg` (genetlink). A userspace device is driven through its
 * socket, as `wg` itself would, unless `userspaceControl: wg` — or there is no socket (a
 * wireguard-go serving another directory): then through `wg`, which finds it or reports why not.
 */
export function chooseWgControl(c: ControlChoice): WgControl {
  const path = uapiSocketPath(c.iface, c.socketDir ?? UAPI_SOCKET_DIR)
  if (c.backend === 'userspace' && c.userspaceControl !== 'wg' && existsSync(path)) {
    return new UapiControl(c.iface, path)
  }
  return new WgToolControl(c.iface, c.runner, c.privateKeyFile)
}

export class UapiControl implements WgControl {
  readonly via = 'uapi'
  constructor(
    private readonly iface: string,
    private readonly path: string,
  ) {}

  async read(): Promise<WgDeviceState> {
    return parseUapiGet(await uapiRequest(this.path, UAPI_GET), this.iface)
  }

  async apply(plan: WgPlan, desired: WgDesired): Promise<void> {
    const answer = await uapiRequest(this.path, encodeUapiSet(plan, desired))
    const errno = uapiErrno(answer)
    if (errno !== 0) {
      throw new LatchError(
        'LATCH_ERR_WG_COMMAND_FAILED',
        `wireguard-go's UAPI set on ${this.iface} failed: ${errno === undefined ? 'no errno in its answer' : `${describeErrno(errno)}; it stops at the line it refused`}`,
        { details: { interface: this.iface, ...(errno !== undefined && { errno }) } },
      )
    }
  }
}

export class WgToolControl implements WgControl {
  readonly via = 'wg'
  constructor(
    private readonly iface: string,
    private readonly runner: CommandRunner,
    private readonly privateKeyFile: string,
  ) {}

  /** `wg show <if> dump`, parsed. Holds key material: keep inside the engine. */
  async read(): Promise<WgDeviceState> {
    const res = await this.runner.run('wg', ['show', this.iface, 'dump'])
    if (res.exitCode !== 0) {
      throw new LatchError(
        'LATCH_ERR_WG_COMMAND_FAILED',
        `\`wg show ${this.iface} dump\` failed: ${res.stderr.trim()}`,
        { details: { interface: this.iface, exitCode: res.exitCode, stderr: res.stderr.trim() } },
      )
    }
    return parseWgDump(res.stdout, this.iface)
  }

  apply(plan: WgPlan, desired: WgDesired): Promise<void> {
    return applyWireguardPlan(this.runner, this.iface, plan, desired, this.privateKeyFile)
  }
}

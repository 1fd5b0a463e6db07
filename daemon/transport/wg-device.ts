import type { Logger } from 'pino'
import { isLatchError, LatchError } from '../base/errors.js'
import type { LinkInfo, NetlinkPort } from './netlink-port.js'
import type { CommandRunner } from './runner.js'

export type WgBackend = 'kernel' | 'userspace'

export interface DeviceDeps {
  runner: CommandRunner
  netlink: NetlinkPort
  logger: Logger
}

export interface EnsuredDevice {
  link: LinkInfo
  backend: WgBackend
  /** true: the interface was already there and answering `wg`; it was kept, not re-created. */
  adopted: boolean
}

/** How the userspace backend runs: which wireguard-go, and whether the TUN keeps its offloads. */
export interface UserspaceOptions {
  /** Default `wireguard-go` (PATH). */
  binary?: string
  /** Default true. false: `ethtool -K <if> tx off tso off gso off` on the TUN (also when adopted). */
  offloads?: boolean
}

/**
 * Make sure the WireGuard interface exists, creating it only when there is none.
 *
 * An existing link that answers `wg show <if>` (a kernel wireguard link, or a TUN whose
 * wireguard-go listens on /var/run/wireguard/<if>.sock) is adopted as it is: a daemon restart
 * never re-creates it, so traffic keeps flowing. A link of that name that `wg` cannot drive is
 * refused, never deleted.
 */
export async function ensureDevice(
  iface: string,
  backend: 'auto' | WgBackend,
  deps: DeviceDeps,
  userspace: UserspaceOptions = {},
): Promise<EnsuredDevice> {
  const existing = await deps.netlink.getLink(iface)
  if (existing !== undefined) {
    if (!(await answersWg(iface, deps.runner))) {
      throw new LatchError(
        'LATCH_ERR_WG_INTERFACE_CONFLICT',
        `link ${iface} exists but \`wg show ${iface}\` cannot read it`,
        {
          details: { interface: iface, kind: existing.kind ?? 'unknown' },
        },
      )
    }
    const found: WgBackend = existing.kind === 'wireguard' ? 'kernel' : 'userspace'
    if (backend !== 'auto' && backend !== found) {
      deps.logger.warn(
        { interface: iface, configured: backend, found },
        'adopting an existing interface of the other backend',
      )
    }
    if (found === 'userspace' && userspace.offloads === false) await offloadsOff(iface, deps.runner)
    return { link: existing, backend: found, adopted: true }
  }

  let made: WgBackend
  if (backend === 'userspace') {
    await startUserspace(iface, deps.runner, userspace)
    made = 'userspace'
  } else {
    try {
      await deps.netlink.createWireguardLink(iface)
      made = 'kernel'
    } catch (err) {
      if (backend === 'kernel' || !isLatchError(err, 'LATCH_ERR_WG_KERNEL_UNSUPPORTED')) throw err
      deps.logger.info({ interface: iface }, 'no WireGuard kernel module; starting wireguard-go')
      await startUserspace(iface, deps.runner, userspace)
      made = 'userspace'
    }
  }
  const link = await deps.netlink.getLink(iface)
  if (link === undefined) {
    throw new LatchError(
      'LATCH_ERR_WG_USERSPACE_FAILED',
      `interface ${iface} did not appear after creating it`,
      {
        details: { interface: iface, backend: made },
      },
    )
  }
  if (made === 'userspace' && userspace.offloads === false) await offloadsOff(iface, deps.runner)
  deps.logger.info(
    {
      interface: iface,
      backend: made,
      ifindex: link.index,
      ...(made === 'userspace' && {
        binary: userspace.binary ?? 'wireguard-go',
        offloads: userspace.offloads !== false,
      }),
    },
    'created WireGuard interface',
  )
  return { link, backend: made, adopted: false }
}

async function answersWg(iface: string, runner: CommandRunner): Promise<boolean> {
  // `listen-port` prints no secret, unlike `dump`
  const res = await runner.run('wg', ['show', iface, 'listen-port'])
  return res.exitCode === 0
}

/**
 * wireguard-go daemonizes itself: the first process creates the TUN and the UAPI socket, hands
 * them to a detached child and exits, so the interface outlives latchd. LOG_LEVEL would make the
 * child keep our stdout/stderr pipes open (and hang the run), so it is cleared.
 */
async function startUserspace(iface: string, runner: CommandRunner, opts: UserspaceOptions): Promise<void> {
  const binary = opts.binary ?? 'wireguard-go'
  const res = await runner.run(binary, [iface], {
    env: { LOG_LEVEL: undefined, WG_PROCESS_FOREGROUND: undefined },
  })
  if (res.exitCode !== 0) {
    const what = res.exitCode === 127 ? `${binary} is not installed` : `${binary} ${iface} failed`
    throw new LatchError('LATCH_ERR_WG_USERSPACE_FAILED', `${what}: ${res.stderr.trim()}`, {
      details: { interface: iface, binary, exitCode: res.exitCode },
    })
  }
}

/**
 * wireguard-go ≥ 0.0.20230223 opens its TUN with IFF_VNET_HDR and turns on TSO/checksum offload,
 * so the kernel hands it TCP segments of up to 64 KiB. `wireguard.userspaceOffloads: false` turns
 * those features off again (the kernel segments and checksums before the TUN, as with older builds).
 * wireguard-go's own GRO (coalescing into the TUN) and UDP GSO on its socket are its choice, not
 * switchable from outside; to avoid IFF_VNET_HDR altogether, point userspaceBinary at an older build.
 */
async function offloadsOff(iface: string, runner: CommandRunner): Promise<void> {
  const res = await runner.run('ethtool', ['-K', iface, 'tx', 'off', 'tso', 'off', 'gso', 'off'])
  if (res.exitCode !== 0) {
    const what = res.exitCode === 127 ? 'ethtool is not installed' : `ethtool -K ${iface} failed`
    throw new LatchError(
      'LATCH_ERR_WG_USERSPACE_FAILED',
      `wireguard.userspaceOffloads is false but ${what}: ${res.stderr.trim()}`,
      { details: { interface: iface, exitCode: res.exitCode } },
    )
  }
}

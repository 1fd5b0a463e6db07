import type { Logger } from 'pino'
import { LatchError } from '../base/errors.js'
import { inParallel } from '../base/in-parallel.js'
import { canonicalInterfaceAddress, prefixesOverlap } from './addr.js'
import type { LinkInfo, NetlinkPort } from './netlink-port.js'
import { describeRoutePlan, planRoutes } from './route-plan.js'
import type { CommandRunner } from './runner.js'
import { chooseWgControl, type UserspaceControl, type WgControl } from './wg-control.js'
import { type EnsuredDevice, ensureDevice, type WgBackend } from './wg-device.js'
import type { WgDeviceState } from './wg-dump.js'
import { ensurePrivateKeyFile } from './wg-key.js'
import {
  describeWireguardPlan,
  planIsEmpty,
  planWireguard,
  type WgDesired,
  type WgPeerConfig,
} from './wg-plan.js'

/** The `wireguard:` block of the latchd config (the one definition; the config schema matches it). */
/** Route requests in flight at once (well inside a netlink socket's receive buffer for the acks). */
const ROUTES_IN_FLIGHT = 64

export interface WireguardOptions {
  /** Interface name, e.g. `latch0`. */
  interface: string
  /** UDP listen port. */
  listenPort: number
  /** This node's tunnel address as a CIDR, e.g. `10.101.0.1/32`. */
  address: string
  /** Private key file (base64, as `wg genkey` writes it); created 0600 when missing. */
  privateKeyFile: string
  /** `kernel` = rtnetlink link type wireguard; `userspace` = wireguard-go; `auto` probes kernel first. */
  backend: 'auto' | WgBackend
  /** wireguard-go to start for the userspace backend (default `wireguard-go` on PATH). */
  userspaceBinary?: string
  /** false: TUN TSO/GSO/checksum offloads off on a userspace interface (default true: left on). */
  userspaceOffloads?: boolean
  /** How a userspace device is read and programmed: `uapi` (its socket, default) or `wg` (the tool). */
  userspaceControl?: UserspaceControl
  /** Tests: the directory of wireguard-go's UAPI sockets (default /var/run/wireguard). */
  uapiSocketDir?: string
}

export interface TransportReconcile {
  changed: boolean
  actions: string[]
}

export interface StartedTransport extends Omit<EnsuredDevice, 'backend'> {
  /** WireGuard kernel module, wireguard-go, or ESP through XFRM (`transport: ipsec`). */
  backend: EnsuredDevice['backend'] | 'ipsec'
  publicKey: string
  /** The device as found right after start (peers of an adopted interface included). */
  state: WgDeviceState
}

/**
 * The WireGuard transport: one interface, its peers and the routes through it. Every reconcile
 * reads the device once (wireguard-go: one UAPI `get`; kernel: `wg show <if> dump`) and the routes
 * once (rtnetlink), and changes only what differs: at most ONE UAPI `set` (or ONE `wg` process)
 * plus one netlink message per (aggregated) route added or deleted.
 */
export class WireguardTransport {
  private link: LinkInfo | undefined
  private control: WgControl | undefined
  private privateKey = ''
  private publicKey = ''

  constructor(
    private readonly opts: WireguardOptions,
    private readonly runner: CommandRunner,
    private readonly netlink: NetlinkPort,
    private readonly logger: Logger,
  ) {}

  get interfaceName(): string {
    return this.opts.interface
  }

  /** Key file, interface (adopted when present), tunnel address, link up. Does not touch peers. */
  async start(): Promise<StartedTransport> {
    const key = await ensurePrivateKeyFile(this.opts.privateKeyFile)
    if (key.created)
      this.logger.info({ file: this.opts.privateKeyFile }, 'created WireGuard private key file')
    this.privateKey = key.privateKey
    this.publicKey = key.publicKey
    const device = await this.ensureLink()
    const state = await this.read()
    return { ...device, publicKey: key.publicKey, state }
  }

  private async ensureLink(): Promise<EnsuredDevice> {
    const device = await ensureDevice(
      this.opts.interface,
      this.opts.backend,
      {
        runner: this.runner,
        netlink: this.netlink,
        logger: this.logger,
      },
      { binary: this.opts.userspaceBinary, offloads: this.opts.userspaceOffloads },
    )
    this.link = device.link
    this.control = chooseWgControl({
      iface: this.opts.interface,
      backend: device.backend,
      runner: this.runner,
      privateKeyFile: this.opts.privateKeyFile,
      ...(this.opts.userspaceControl !== undefined && { userspaceControl: this.opts.userspaceControl }),
      ...(this.opts.uapiSocketDir !== undefined && { socketDir: this.opts.uapiSocketDir }),
    })
    await this.ensureAddress(device.link.index)
    if (!device.link.up) await this.netlink.setLinkUp(device.link.index)
    return device
  }

  /**
   * The device as `wg` reports it. When `wg` cannot read it because the interface is gone
   * (wireguard-go crashed or was killed, someone deleted the link), it is created again — with
   * the same key, so peers accept it — and the reconcile that follows reprograms peers and routes.
   */
  private async readOrRecreate(): Promise<{ state: WgDeviceState; recreated: boolean }> {
    try {
      return { state: await this.read(), recreated: false }
    } catch (err) {
      if ((await this.netlink.getLink(this.opts.interface)) !== undefined) throw err
      this.logger.warn({ interface: this.opts.interface }, 'WireGuard interface vanished; creating it again')
      await this.ensureLink()
      return { state: await this.read(), recreated: true }
    }
  }

  /** The whole device (keys included: keep inside the engine). */
  async read(): Promise<WgDeviceState> {
    return this.requireControl().read()
  }

  /** `uapi` or `wg`: how the device is read and programmed (status and benchmarks show it). */
  get controlVia(): WgControl['via'] | undefined {
    return this.control?.via
  }

  /**
   * Bring peers and routes to `peers` (the complete desired set). Peers whose public key is in
   * `keep` are left untouched if present (and their allowed IPs keep their routes) unless a
   * desired peer claims one of their prefixes. `names` labels removed peers in the action list.
   */
  async reconcile(
    peers: readonly WgPeerConfig[],
    keep: ReadonlySet<string>,
    names: ReadonlyMap<string, string>,
  ): Promise<TransportReconcile> {
    this.requireLink()
    const { state: actual, recreated } = await this.readOrRecreate()
    const link = this.requireLink()
    const desiredPeers = new Map(peers.map((p) => [p.publicKey, p]))
    const claimed = peers.flatMap((p) => p.allowedIps)
    const kept = new Set<string>()
    const routes = new Set(claimed)
    for (const key of keep) {
      const have = actual.peers.get(key)
      if (have === undefined || desiredPeers.has(key)) continue
      if (have.allowedIps.some((a) => claimed.some((c) => prefixesOverlap(a, c)))) continue
      kept.add(key)
      for (const a of have.allowedIps) routes.add(a)
    }
    const desired: WgDesired = {
      privateKey: this.privateKey,
      listenPort: this.opts.listenPort,
      peers: desiredPeers,
      keep: kept,
    }
    const plan = planWireguard(desired, actual)
    const actions = describeWireguardPlan(plan, desired, names)
    if (recreated) actions.unshift(`wg interface re-created ${this.opts.interface}`)
    if (!planIsEmpty(plan)) {
      await this.requireControl().apply(plan, desired)
    }

    const routePlan = planRoutes(routes, await this.netlink.getRoutes(link.index))
    // add first: an aggregate and the prefixes it replaces overlap, so no address is ever unrouted
    // many requests in flight on the one socket (matched by sequence number), not one round trip each
    await inParallel(routePlan.add, ROUTES_IN_FLIGHT, (r) => this.netlink.addRoute(link.index, r))
    await inParallel(routePlan.del, ROUTES_IN_FLIGHT, (r) => this.netlink.delRoute(link.index, r))
    actions.push(...describeRoutePlan(routePlan, this.opts.interface))
    return { changed: actions.length > 0, actions }
  }

  get ownPublicKey(): string {
    return this.publicKey
  }

  private requireControl(): WgControl {
    if (this.control === undefined) {
      throw new LatchError('LATCH_ERR_ENGINE_NOT_STARTED', 'the WireGuard transport was used before start()')
    }
    return this.control
  }

  private requireLink(): LinkInfo {
    if (this.link === undefined) {
      throw new LatchError('LATCH_ERR_ENGINE_NOT_STARTED', 'the WireGuard transport was used before start()')
    }
    return this.link
  }

  /** The tunnel address is the only address latch wants on its interface (link-local v6 aside). */
  private async ensureAddress(index: number): Promise<void> {
    const want = canonicalInterfaceAddress(this.opts.address)
    if (want === undefined) {
      throw new LatchError(
        'LATCH_ERR_NET_BAD_CIDR',
        `wireguard.address ${this.opts.address} is not an address/prefix`,
      )
    }
    const have = (await this.netlink.getAddresses(index)).map((a) => canonicalInterfaceAddress(a) ?? a)
    for (const a of have) {
      if (a !== want && !a.toLowerCase().startsWith('fe80:')) {
        this.logger.info({ interface: this.opts.interface, address: a }, 'removing stale tunnel address')
        await this.netlink.delAddress(index, a)
      }
    }
    if (!have.includes(want)) await this.netlink.addAddress(index, want)
  }
}

/**
 * The IPsec transport (`transport: ipsec`): ESP in tunnel mode between node underlay addresses,
 * AES-GCM (rfc4106), one SA per node pair and direction, keys and SPIs from the pair's TLS exporter
 * value (xfrm/esp-keys.ts), policies for the peer's tunnel address and workload CIDRs, all
 * programmed through XFRM netlink (xfrm/port.ts) — no process per change.
 *
 * Packets enter and leave through an XFRM interface (`ipsec.interface`, if_id `ipsec.ifId`): routes
 * to peers point at it like at the WireGuard interface, SAs and policies carry its if_id, and a
 * decrypted packet arrives with that interface as its ingress ifindex — so the eBPF datapath's
 * "arrived through the tunnel" check is the same ifindex check as for WireGuard.
 *
 * Re-handshakes roll keys over make-before-break (xfrm/plan.ts); pending steps wake the engine.
 * The node keeps its WireGuard key pair as the pair identity (the handshake's exporter context and
 * the reqid derive from the two public keys).
 */
import type { Logger } from 'pino'
import { LatchError } from '../base/errors.js'
import { canonicalInterfaceAddress } from './addr.js'
import type { LinkInfo, NetlinkPort } from './netlink-port.js'
import { describeRoutePlan, planRoutes } from './route-plan.js'
import type { WgDeviceState, WgPeerState } from './wg-dump.js'
import { ensurePrivateKeyFile } from './wg-key.js'
import type { WgPeerConfig } from './wg-plan.js'
import type { StartedTransport, TransportReconcile } from './wireguard.js'
import { pairReqid } from './xfrm/esp-keys.js'
import {
  describeIpsecPlan,
  type IpsecGeneration,
  type IpsecPeer,
  type IpsecSelf,
  type IpsecTiming,
  ipsecPlanIsEmpty,
  planIpsec,
} from './xfrm/plan.js'
import type { XfrmPort } from './xfrm/port.js'

export interface IpsecTransportOptions {
  /** The XFRM interface, e.g. `latchx0`. */
  interface: string
  ifId: number
  /** This node's tunnel address, CIDR. */
  address: string
  /** This node's underlay address (outer source of its SAs). */
  underlay: string
  privateKeyFile: string
  timing: IpsecTiming
}

interface PeerMemory {
  publicKey: string
  generations: IpsecGeneration[]
}

export class IpsecTransport {
  private link: LinkInfo | undefined
  private publicKey = ''
  /** reqid → what latch knows of the pair (exporter values of recent handshakes). */
  private readonly pairs = new Map<number, PeerMemory>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly opts: IpsecTransportOptions,
    private readonly netlink: NetlinkPort,
    private readonly xfrm: XfrmPort,
    private readonly logger: Logger,
    /** Called when a pending switch or retirement is due: the engine reconciles again. */
    private readonly wake: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  get interfaceName(): string {
    return this.opts.interface
  }

  get ownPublicKey(): string {
    return this.publicKey
  }

  async start(): Promise<StartedTransport> {
    const key = await ensurePrivateKeyFile(this.opts.privateKeyFile)
    if (key.created) this.logger.info({ file: this.opts.privateKeyFile }, 'created node key file')
    this.publicKey = key.publicKey
    let link = await this.netlink.getLink(this.opts.interface)
    const adopted = link !== undefined
    if (link !== undefined && link.kind !== 'xfrm') {
      throw new LatchError(
        'LATCH_ERR_WG_INTERFACE_CONFLICT',
        `link ${this.opts.interface} exists but is not an xfrm interface (kind ${link.kind ?? 'unknown'})`,
        { details: { interface: this.opts.interface, kind: link.kind ?? 'unknown' } },
      )
    }
    if (link === undefined) {
      await this.netlink.createXfrmLink(this.opts.interface, this.opts.ifId)
      link = await this.netlink.getLink(this.opts.interface)
      if (link === undefined) {
        throw new LatchError(
          'LATCH_ERR_IPSEC_NETLINK_FAILED',
          `xfrm interface ${this.opts.interface} did not appear after creating it`,
        )
      }
    }
    this.link = link
    await this.ensureAddress(link.index)
    if (!link.up) await this.netlink.setLinkUp(link.index)
    return { link, backend: 'ipsec', adopted, publicKey: key.publicKey, state: await this.read() }
  }

  /**
   * The pairs as the kernel has them, in the shape of a WireGuard device (for status and adoption):
   * one entry per reqid of latch's SAs; pairs this daemon did not program are keyed `reqid:N`.
   */
  async read(): Promise<WgDeviceState> {
    const [sas, policies] = await Promise.all([this.xfrm.listSas(), this.xfrm.listPolicies()])
    const peers = new Map<string, WgPeerState>()
    for (const sa of sas) {
      if (sa.ifId !== this.opts.ifId) continue
      const known = this.pairs.get(sa.reqid)
      const key = known?.publicKey ?? `reqid:${sa.reqid}`
      let p = peers.get(key)
      if (p === undefined) {
        const allowed = policies
          .filter((x) => x.ifId === this.opts.ifId && x.dir === 'out' && x.reqid === sa.reqid)
          .map((x) => x.sel.dst)
          .sort()
        p = {
          publicKey: key,
          ...(known === undefined ? {} : { presharedKey: '(exporter)' }),
          allowedIps: allowed,
          latestHandshake: 0,
          rxBytes: 0,
          txBytes: 0,
          persistentKeepalive: 0,
        }
        peers.set(key, p)
      }
      if (sa.dst === this.opts.underlay) p.rxBytes += sa.bytes
      else {
        p.txBytes += sa.bytes
        p.endpoint = sa.dst
      }
    }
    return { listenPort: 0, peers }
  }

  async reconcile(
    peers: readonly WgPeerConfig[],
    keep: ReadonlySet<string>,
    names: ReadonlyMap<string, string>,
  ): Promise<TransportReconcile> {
    const link = this.requireLink()
    const now = this.now()
    const self: IpsecSelf = { publicKey: this.publicKey, underlay: this.opts.underlay, ifId: this.opts.ifId }
    const desired: IpsecPeer[] = []
    const live = new Set<number>()
    for (const p of peers) {
      const reqid = pairReqid(this.publicKey, p.publicKey)
      live.add(reqid)
      const mem = this.pairs.get(reqid) ?? { publicKey: p.publicKey, generations: [] }
      if (mem.generations[0]?.presharedKey !== p.presharedKey)
        mem.generations.unshift({ presharedKey: p.presharedKey, since: now })
      // older generations matter only until they are retired
      mem.generations = mem.generations.filter(
        (_g, i) => i === 0 || now < (mem.generations[i - 1]?.since ?? now) + this.opts.timing.retireAfterMs,
      )
      this.pairs.set(reqid, mem)
      desired.push({
        ...(p.name === undefined ? {} : { name: p.name }),
        publicKey: p.publicKey,
        underlay: hostOfEndpoint(p.endpoint),
        allowedIps: p.allowedIps,
        generations: mem.generations,
      })
    }
    for (const reqid of this.pairs.keys()) if (!live.has(reqid)) this.pairs.delete(reqid)
    const keepReqids = new Set<number>()
    for (const k of keep) {
      keepReqids.add(k.startsWith('reqid:') ? Number(k.slice(6)) : pairReqid(this.publicKey, k))
    }
    const actual = { sas: await this.xfrm.listSas(), policies: await this.xfrm.listPolicies() }
    const plan = planIpsec(self, desired, keepReqids, actual, now, this.opts.timing)
    const byUnderlay = new Map(peers.map((p) => [hostOfEndpoint(p.endpoint), p.name ?? p.publicKey]))
    for (const [k, n] of names) byUnderlay.set(k, n)
    const actions = describeIpsecPlan(plan, self, byUnderlay)
    if (!ipsecPlanIsEmpty(plan)) {
      // make before break: new SAs and policies first, removals after
      for (const sa of plan.addSa) await this.xfrm.addSa(sa)
      for (const p of plan.putPolicy) await this.xfrm.putPolicy(p)
      for (const sa of plan.delSa) await this.xfrm.delSa(sa)
      for (const p of plan.delPolicy) await this.xfrm.delPolicy(p)
    }
    this.schedule(plan.wakeAt, now)

    const routes = new Set(peers.flatMap((p) => p.allowedIps))
    for (const p of actual.policies) {
      if (p.ifId === this.opts.ifId && p.dir === 'out' && p.reqid !== undefined && keepReqids.has(p.reqid))
        routes.add(p.sel.dst)
    }
    const routePlan = planRoutes(routes, await this.netlink.getRoutes(link.index))
    // add first (see planRoutes): no window where an address of the set has no route
    for (const r of routePlan.add) await this.netlink.addRoute(link.index, r)
    for (const r of routePlan.del) await this.netlink.delRoute(link.index, r)
    actions.push(...describeRoutePlan(routePlan, this.opts.interface))
    return { changed: actions.length > 0, actions }
  }

  /** Cancel a pending wake-up (engine stop). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(at: number | undefined, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (at === undefined) return
    this.timer = setTimeout(() => this.wake(), Math.max(0, at - now) + 1)
    this.timer.unref()
  }

  private requireLink(): LinkInfo {
    if (this.link === undefined) {
      throw new LatchError('LATCH_ERR_ENGINE_NOT_STARTED', 'the IPsec transport was used before start()')
    }
    return this.link
  }

  private async ensureAddress(index: number): Promise<void> {
    const want = canonicalInterfaceAddress(this.opts.address)
    if (want === undefined) {
      throw new LatchError(
        'LATCH_ERR_NET_BAD_CIDR',
        `tunnel address ${this.opts.address} is not an address/prefix`,
      )
    }
    const have = (await this.netlink.getAddresses(index)).map((a) => canonicalInterfaceAddress(a) ?? a)
    for (const a of have)
      if (a !== want && !a.toLowerCase().startsWith('fe80:')) await this.netlink.delAddress(index, a)
    if (!have.includes(want)) await this.netlink.addAddress(index, want)
  }
}

/** `10.99.0.12:51820` / `[fd00::2]:51820` → the address. */
export function hostOfEndpoint(endpoint: string): string {
  const m = /^\[(.+)\]:\d+$/.exec(endpoint)
  if (m?.[1] !== undefined) return m[1]
  const i = endpoint.lastIndexOf(':')
  return i < 0 ? endpoint : endpoint.slice(0, i)
}

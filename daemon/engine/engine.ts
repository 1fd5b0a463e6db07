import { LatchError } from '../base/errors.js'
import { scaled } from '../base/time-scale.js'
import { IpsecTransport } from '../transport/ipsec.js'
import type { NetlinkPort } from '../transport/netlink-port.js'
import { RtNetlinkPort } from '../transport/rtnetlink-port.js'
import { ProcessRunner } from '../transport/runner.js'
import type { WgPeerConfig } from '../transport/wg-plan.js'
import { WireguardTransport } from '../transport/wireguard.js'
import { NetlinkXfrmPort } from '../transport/xfrm/port.js'
import { Coalescer } from './coalescer.js'
import { peerConfigOf } from './peer-config.js'
import type { Engine, EngineOptions, EngineStatus, PeerSession, ReconcileResult } from './types.js'

/** How long peers found on an adopted interface survive without a new handshake claiming them. */
export const DEFAULT_ADOPT_GRACE_MS = 60_000
export const DEFAULT_COALESCE_MS = 5

interface Entry {
  session: PeerSession
  config: WgPeerConfig
}

/**
 * The engine: authenticated peer sessions in, kernel state out.
 *
 * Desired state is the set of sessions (by node name). Changes are coalesced into one reconcile
 * (Coalescer); each reconcile is a full diff against what the kernel reports, so it also repairs
 * drift and reports "no change" when there is nothing to do.
 *
 * After a daemon restart the interface is adopted with its peers. Those peers keep working, left
 * untouched, until a new handshake claims them (same public key) or `adoptGraceMs` passes; then
 * unclaimed ones are removed. A restart therefore never cuts traffic.
 */
class EngineImpl implements Engine {
  private readonly entries = new Map<string, Entry>()
  /** WireGuard public key → the name of the entry holding it (entries' index: upsert is O(1), not O(peers)). */
  private readonly keyOwner = new Map<string, string>()
  /** Public key → when its adoption grace ends (ms epoch). */
  private readonly adopted = new Map<string, number>()
  /** Public key → name, for peers that were removed but may still be on the interface. */
  private readonly formerNames = new Map<string, string>()
  private readonly transport: WireguardTransport | IpsecTransport
  private readonly closeXfrm: (() => void) | undefined
  private readonly netlink: NetlinkPort
  private readonly ownsNetlink: boolean
  private readonly wg: Coalescer<ReconcileResult>
  private readonly adoptGraceMs: number
  private phase: 'new' | 'starting' | 'started' | 'stopped' = 'new'
  private backend: EngineStatus['backend'] = 'kernel'
  private graceTimer: NodeJS.Timeout | undefined

  constructor(private readonly opts: EngineOptions) {
    this.ownsNetlink = opts.netlink === undefined
    this.netlink = opts.netlink ?? new RtNetlinkPort()
    if (opts.ipsec !== undefined) {
      const x = opts.ipsec
      const xfrm = x.xfrm ?? new NetlinkXfrmPort()
      this.closeXfrm = x.xfrm === undefined ? () => xfrm.close() : undefined
      this.transport = new IpsecTransport(
        {
          interface: x.interface,
          ifId: x.ifId,
          address: opts.wireguard.address,
          underlay: x.underlay,
          privateKeyFile: opts.wireguard.privateKeyFile,
          timing: {
            switchAfterMs: x.switchAfterMs ?? scaled(2000),
            retireAfterMs: x.retireAfterMs ?? scaled(6000),
          },
        },
        this.netlink,
        xfrm,
        opts.logger.child({ component: 'ipsec' }),
        () => this.poke(),
      )
    } else {
      this.closeXfrm = undefined
      this.transport = new WireguardTransport(
        opts.wireguard,
        opts.runner ?? new ProcessRunner(),
        this.netlink,
        opts.logger.child({ component: 'wireguard' }),
      )
    }
    this.adoptGraceMs = opts.adoptGraceMs ?? DEFAULT_ADOPT_GRACE_MS
    this.wg = new Coalescer(
      'wireguard',
      () => this.reconcileWireguard(),
      opts.coalesceMs ?? DEFAULT_COALESCE_MS,
      opts.logger,
    )
  }

  async start(): Promise<{ publicKey: string; adopted: boolean }> {
    if (this.phase !== 'new')
      throw new LatchError('LATCH_ERR_ENGINE_STOPPED', `engine.start() called twice (${this.phase})`)
    this.phase = 'starting'
    const started = await this.transport.start()
    const claimed = new Set([...this.entries.values()].map((e) => e.config.publicKey))
    const until = Date.now() + this.adoptGraceMs
    for (const key of started.state.peers.keys()) if (!claimed.has(key)) this.adopted.set(key, until)
    if (this.adopted.size > 0) {
      this.graceTimer = setTimeout(() => this.wg.poke(), this.adoptGraceMs + 1)
      this.graceTimer.unref()
    }
    this.phase = 'started'
    this.backend = started.backend
    this.opts.logger.info(
      {
        interface: this.transport.interfaceName,
        backend: started.backend,
        ...('controlVia' in this.transport && { control: this.transport.controlVia }),
        adopted: started.adopted,
        adoptedPeers: this.adopted.size,
        ifindex: started.link.index,
      },
      started.adopted ? 'adopted WireGuard interface' : 'WireGuard interface ready',
    )
    await this.wg.flush()
    return { publicKey: started.publicKey, adopted: started.adopted }
  }

  upsertPeer(s: PeerSession): void {
    this.assertUsable()
    const config = peerConfigOf(s)
    const name = this.keyOwner.get(config.publicKey)
    if (name !== undefined && name !== s.name) {
      throw new LatchError(
        'LATCH_ERR_ENGINE_BAD_PEER',
        `peer "${s.name}" has the WireGuard key of peer "${name}"`,
        {
          details: { peer: s.name, field: 'wgPublicKey', other: name },
        },
      )
    }
    const previous = this.entries.get(s.name)
    if (previous !== undefined && previous.config.publicKey !== config.publicKey) {
      this.formerNames.set(previous.config.publicKey, s.name)
    }
    if (previous !== undefined) this.keyOwner.delete(previous.config.publicKey)
    this.entries.set(s.name, { session: s, config })
    this.keyOwner.set(config.publicKey, s.name)
    this.adopted.delete(config.publicKey)
    this.formerNames.delete(config.publicKey)
    this.poke()
  }

  removePeer(name: string): void {
    this.assertUsable()
    const e = this.entries.get(name)
    if (e === undefined) return
    this.entries.delete(name)
    this.keyOwner.delete(e.config.publicKey)
    this.formerNames.set(e.config.publicKey, name)
    this.poke()
  }

  flush(): Promise<ReconcileResult> {
    if (this.phase === 'new' || this.phase === 'starting') {
      return Promise.reject(
        new LatchError('LATCH_ERR_ENGINE_NOT_STARTED', 'engine.flush() before start() completed'),
      )
    }
    return this.wg.flush()
  }

  async status(): Promise<EngineStatus> {
    if (this.phase === 'new')
      throw new LatchError('LATCH_ERR_ENGINE_NOT_STARTED', 'engine.status() before start()')
    const state = await this.transport.read()
    const names = new Map([...this.entries.values()].map((e) => [e.config.publicKey, e.session.name]))
    return {
      interface: this.transport.interfaceName,
      backend: this.backend,
      publicKey: this.transport.ownPublicKey,
      peers: [...state.peers.values()].map((p) => {
        const name = names.get(p.publicKey)
        return {
          ...(name === undefined ? {} : { name }),
          publicKey: p.publicKey,
          ...(p.endpoint === undefined ? {} : { endpoint: p.endpoint }),
          ...(p.latestHandshake > 0 ? { latestHandshake: new Date(p.latestHandshake * 1000) } : {}),
          rxBytes: p.rxBytes,
          txBytes: p.txBytes,
          hasPresharedKey: p.presharedKey !== undefined,
        }
      }),
    }
  }

  async stop(): Promise<void> {
    if (this.phase === 'stopped') return
    this.phase = 'stopped'
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer)
    await this.wg.stop()
    if (this.transport instanceof IpsecTransport) this.transport.stop()
    this.closeXfrm?.()
    if (this.ownsNetlink) this.netlink.close()
  }

  private async reconcileWireguard(): Promise<ReconcileResult> {
    const now = Date.now()
    for (const [key, until] of this.adopted) if (until <= now) this.adopted.delete(key)
    const peers = [...this.entries.values()].map((e) => e.config)
    const result = await this.transport.reconcile(peers, new Set(this.adopted.keys()), this.formerNames)
    // names of removed peers are only needed until the removal went through
    this.formerNames.clear()
    if (result.changed) this.opts.logger.info({ actions: result.actions }, 'reconciled WireGuard')
    else this.opts.logger.debug('WireGuard reconcile: no change')
    return result
  }

  private poke(): void {
    if (this.phase === 'started') this.wg.poke()
  }

  private assertUsable(): void {
    if (this.phase === 'stopped') throw new LatchError('LATCH_ERR_ENGINE_STOPPED', 'engine used after stop()')
  }
}

export function createEngine(opts: EngineOptions): Engine {
  return new EngineImpl(opts)
}

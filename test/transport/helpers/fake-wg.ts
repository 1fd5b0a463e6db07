import { readFileSync, statSync } from 'node:fs'
import { canonicalPrefix } from '../../../daemon/transport/addr.js'
import type { LinkInfo, NetlinkPort } from '../../../daemon/transport/netlink-port.js'
import type { CommandRunner, RunOptions, RunResult } from '../../../daemon/transport/runner.js'
import { publicKeyOf } from '../../../daemon/transport/wg-key.js'

/**
 * A model of one WireGuard device for transcript tests: it answers `wg show <if> listen-port|dump`
 * from its state and applies `wg set` clauses to it, reading key files exactly like `wg` does
 * (the files must exist and be 0600 while `wg` runs). `wireguard-go <if>` creates the device and
 * its link in the paired FakeNetlink. Every command lands in `transcript`, PSK file paths
 * normalised to `<psk>` so transcripts compare across runs.
 */
export interface FakePeer {
  presharedKey?: string
  endpoint?: string
  allowedIps: string[]
  keepalive: number
}

export class FakeWg implements CommandRunner {
  readonly transcript: string[] = []
  exists = false
  privateKey: string | undefined
  listenPort = 0
  readonly peers = new Map<string, FakePeer>()
  /** Every argv seen, verbatim (to check no secret is on a command line). */
  readonly argvs: string[][] = []

  constructor(
    private readonly iface: string,
    private readonly netlink: FakeNetlink,
  ) {}

  async run(cmd: string, args: readonly string[], _options?: RunOptions): Promise<RunResult> {
    this.argvs.push([cmd, ...args])
    this.transcript.push([cmd, ...args].join(' ').replace(/\/\S*latch-wg-[^/\s]+\/\d+/g, '<psk>'))
    if (cmd === 'wireguard-go') {
      this.exists = true
      this.listenPort = 40000 + Math.floor(Math.random() * 1000)
      this.netlink.addLink(this.iface, 'tun')
      return ok('')
    }
    if (cmd !== 'wg') return { stdout: '', stderr: `${cmd}: not found`, exitCode: 127 }
    if (args[1] !== this.iface || !this.exists) {
      return { stdout: '', stderr: `Unable to access interface: No such device`, exitCode: 1 }
    }
    if (args[0] === 'show' && args[2] === 'listen-port') return ok(`${this.listenPort}\n`)
    if (args[0] === 'show' && args[2] === 'dump') return ok(this.dump())
    if (args[0] === 'set') return this.set(args.slice(2))
    return { stdout: '', stderr: 'unsupported', exitCode: 1 }
  }

  /** How many processes that change state (`wg set`, `wireguard-go`) ran. */
  get mutations(): number {
    return this.transcript.filter((l) => l.startsWith('wg set') || l.startsWith('wireguard-go')).length
  }

  private dump(): string {
    const pub = this.privateKey === undefined ? '(none)' : publicKeyOf(this.privateKey)
    const lines = [`${this.privateKey ?? '(none)'}\t${pub}\t${this.listenPort}\toff`]
    for (const [key, p] of this.peers) {
      const ips = p.allowedIps.length === 0 ? '(none)' : p.allowedIps.join(',')
      lines.push(
        `${key}\t${p.presharedKey ?? '(none)'}\t${p.endpoint ?? '(none)'}\t${ips}\t0\t0\t0\t${p.keepalive || 'off'}`,
      )
    }
    return `${lines.join('\n')}\n`
  }

  private set(a: readonly string[]): RunResult {
    let peer: FakePeer | undefined
    for (let i = 0; i < a.length; i++) {
      const word = a[i]
      const value = a[i + 1] ?? ''
      switch (word) {
        case 'listen-port':
          this.listenPort = Number(value)
          i++
          break
        case 'private-key':
          this.privateKey = readKey(value)
          i++
          break
        case 'peer': {
          let p = this.peers.get(value)
          if (p === undefined) {
            p = { allowedIps: [], keepalive: 0 }
            this.peers.set(value, p)
          }
          peer = p
          i++
          if (a[i + 1] === 'remove') {
            this.peers.delete(value)
            peer = undefined
            i++
          }
          break
        }
        case 'preshared-key':
          if (peer) peer.presharedKey = readKey(value)
          i++
          break
        case 'endpoint':
          if (peer) peer.endpoint = value
          i++
          break
        case 'persistent-keepalive':
          if (peer) peer.keepalive = value === 'off' ? 0 : Number(value)
          i++
          break
        case 'allowed-ips':
          if (peer) {
            const ips = value.split(',').map((c) => canonicalPrefix(c) ?? c)
            // WireGuard semantics: an allowed IP moves to the peer it is set on
            for (const other of this.peers.values())
              if (other !== peer) other.allowedIps = other.allowedIps.filter((x) => !ips.includes(x))
            peer.allowedIps = ips.sort()
          }
          i++
          break
        default:
          return { stdout: '', stderr: `Invalid argument: ${word}`, exitCode: 1 }
      }
    }
    return ok('')
  }
}

function readKey(file: string): string {
  const mode = statSync(file).mode & 0o777
  if (mode !== 0o600) throw new Error(`key file ${file} has mode ${mode.toString(8)}`)
  return readFileSync(file, 'utf8').trim()
}

function ok(stdout: string): RunResult {
  return { stdout, stderr: '', exitCode: 0 }
}

/** Links, addresses and latch routes in memory; every change lands in `transcript`. */
export class FakeNetlink implements NetlinkPort {
  readonly transcript: string[] = []
  readonly links = new Map<string, LinkInfo>()
  readonly addresses = new Map<number, string[]>()
  readonly routes = new Map<number, Set<string>>()
  kernelSupportsWireguard = false
  private nextIndex = 10

  addLink(name: string, kind: string): LinkInfo {
    const link = { index: this.nextIndex++, name, up: false, kind }
    this.links.set(name, link)
    return link
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    const l = this.links.get(name)
    return l === undefined ? undefined : { ...l }
  }

  async createWireguardLink(name: string): Promise<void> {
    this.transcript.push(`link add ${name} type wireguard`)
    if (!this.kernelSupportsWireguard) {
      const { LatchError } = await import('../../../daemon/base/errors.js')
      throw new LatchError('LATCH_ERR_WG_KERNEL_UNSUPPORTED', 'no module')
    }
    this.addLink(name, 'wireguard')
  }

  async deleteLink(index: number): Promise<void> {
    this.transcript.push(`link del ${index}`)
    for (const [n, l] of this.links) if (l.index === index) this.links.delete(n)
  }

  async setLinkUp(index: number): Promise<void> {
    this.transcript.push(`link set ${index} up`)
    for (const l of this.links.values()) if (l.index === index) l.up = true
  }

  async getAddresses(index: number): Promise<string[]> {
    return [...(this.addresses.get(index) ?? [])]
  }

  async addAddress(index: number, cidr: string): Promise<void> {
    this.transcript.push(`addr add ${cidr} dev ${index}`)
    this.addresses.set(index, [...(this.addresses.get(index) ?? []), cidr])
  }

  async delAddress(index: number, cidr: string): Promise<void> {
    this.transcript.push(`addr del ${cidr} dev ${index}`)
    this.addresses.set(
      index,
      (this.addresses.get(index) ?? []).filter((a) => a !== cidr),
    )
  }

  async getRoutes(index: number): Promise<string[]> {
    return [...(this.routes.get(index) ?? [])]
  }

  async addRoute(index: number, dst: string): Promise<void> {
    this.transcript.push(`route add ${dst} dev ${index}`)
    const s = this.routes.get(index) ?? new Set()
    s.add(dst)
    this.routes.set(index, s)
  }

  async delRoute(index: number, dst: string): Promise<void> {
    this.transcript.push(`route del ${dst} dev ${index}`)
    this.routes.get(index)?.delete(dst)
  }

  close(): void {}
}

import { AttrStream, createRtNetlink, FlagsNew, ifla, type RtNetlinkSocket, type rt } from 'netlink'
import { LatchError } from '../base/errors.js'
import { bytesToAddress, canonicalPrefix, prefixBytes } from './addr.js'
import type { LinkInfo, NetlinkPort } from './netlink-port.js'

/**
 * Routes latch installs carry this rtm_protocol, so the route diff touches only its own routes
 * (`ip route show proto 76` lists them). 76 is free in iproute2's rt_protos and the kernel's
 * RTPROT_* list.
 */
export const RTPROT_LATCH = 76

const RT_TABLE_MAIN = 254
const AF_INET = 2
const AF_INET6 = 10

/** The NetlinkPort over rtnetlink (the `netlink` package), in the caller's network namespace. */
export class RtNetlinkPort implements NetlinkPort {
  private readonly socket: RtNetlinkSocket

  constructor() {
    this.socket = createRtNetlink()
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    const links = await this.call('list links', () => this.socket.getLinks())
    for (const l of links) {
      if (l.attrs.ifname !== name || l.data.index === undefined) continue
      const kind = l.attrs.linkinfo === undefined ? undefined : ifla.parseInfo(l.attrs.linkinfo).kind
      return {
        index: l.data.index,
        name,
        up: l.data.flags?.up === true,
        ...(kind === undefined ? {} : { kind }),
      }
    }
    return undefined
  }

  async createWireguardLink(name: string): Promise<void> {
    const stream = new AttrStream()
    stream.emit(ifla.formatInfo({ kind: 'wireguard' }))
    try {
      await this.socket.newLink(
        {},
        { ifname: name, linkinfo: Buffer.concat(stream.bufs) },
        { flags: FlagsNew.CREATE | FlagsNew.EXCL },
      )
    } catch (err) {
      if (/EOPNOTSUPP|ENOTSUP/.test(String((err as Error).message))) {
        throw new LatchError(
          'LATCH_ERR_WG_KERNEL_UNSUPPORTED',
          'the kernel cannot create links of type wireguard',
          {
            cause: err,
            details: { interface: name },
          },
        )
      }
      throw wrap(`create wireguard link ${name}`, err)
    }
  }

  async deleteLink(index: number): Promise<void> {
    await this.call(`delete link ${index}`, () => this.socket.delLink({ index }))
  }

  async setLinkUp(index: number): Promise<void> {
    await this.call(`set link ${index} up`, () =>
      this.socket.setLink({ index, change: { up: true }, flags: { up: true } }),
    )
  }

  async getAddresses(index: number): Promise<string[]> {
    const msgs = await this.call('list addresses', () => this.socket.getAddresses())
    const out: string[] = []
    for (const m of msgs) {
      if (m.data.index !== index) continue
      const raw = m.attrs.local ?? m.attrs.address
      if (raw === undefined) continue
      out.push(`${bytesToAddress(raw)}/${m.data.prefixlen ?? 0}`)
    }
    return out
  }

  async addAddress(index: number, cidr: string): Promise<void> {
    const { bytes, len, family } = prefixBytes(cidr)
    await this.call(`add address ${cidr}`, () =>
      this.socket.newAddress(
        { family: family === 6 ? AF_INET6 : AF_INET, prefixlen: len, index },
        { local: bytes, address: bytes },
        { flags: FlagsNew.CREATE | FlagsNew.REPLACE },
      ),
    )
  }

  async delAddress(index: number, cidr: string): Promise<void> {
    const { bytes, len, family } = prefixBytes(cidr)
    await this.call(`delete address ${cidr}`, () =>
      this.socket.delAddress(
        { family: family === 6 ? AF_INET6 : AF_INET, prefixlen: len, index },
        { local: bytes, address: bytes },
      ),
    )
  }

  async getRoutes(index: number): Promise<string[]> {
    const msgs = await this.call('list routes', () => this.socket.getRoutes())
    const out: string[] = []
    for (const m of msgs) {
      if (m.attrs.oif !== index || !isOurs(m.data)) continue
      const table = m.attrs.table ?? m.data.table
      if (table !== RT_TABLE_MAIN) continue
      const family = m.data.family === AF_INET6 ? 6 : 4
      const dst = m.attrs.dst ?? Buffer.alloc(family === 6 ? 16 : 4)
      const prefix = canonicalPrefix(`${bytesToAddress(dst)}/${m.data.dstLen ?? 0}`)
      if (prefix !== undefined) out.push(prefix)
    }
    return out
  }

  async addRoute(index: number, dst: string): Promise<void> {
    await this.call(`add route ${dst}`, () =>
      this.socket.newRoute(...routeMessage(index, dst), { flags: FlagsNew.CREATE | FlagsNew.REPLACE }),
    )
  }

  async delRoute(index: number, dst: string): Promise<void> {
    try {
      await this.socket.delRoute(...routeMessage(index, dst))
    } catch (err) {
      if (/ESRCH/.test(String((err as Error).message))) return // already gone: the goal is reached
      throw wrap(`delete route ${dst}`, err)
    }
  }

  close(): void {
    this.socket.socket.close()
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw wrap(what, err)
    }
  }
}

function isOurs(data: rt.Route): boolean {
  const proto: unknown = data.protocol
  return proto === RTPROT_LATCH && (data.type === undefined || data.type === 'UNICAST' || data.type === 1)
}

function routeMessage(index: number, dst: string): [rt.Route, rt.RouteAttrs] {
  const { bytes, len, family } = prefixBytes(dst)
  return [
    {
      family: family === 6 ? AF_INET6 : AF_INET,
      dstLen: len,
      table: RT_TABLE_MAIN,
      protocol: RTPROT_LATCH as rt.RouteProtocol, // not in the package's enum; the number is sent as is
      scope: 'LINK',
      type: 'UNICAST',
    },
    { dst: bytes, oif: index },
  ]
}

function wrap(what: string, err: unknown): LatchError {
  const msg = err instanceof Error ? err.message : String(err)
  return new LatchError('LATCH_ERR_WG_NETLINK_FAILED', `netlink: ${what} failed: ${msg}`, { cause: err })
}

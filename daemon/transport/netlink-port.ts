/**
 * The narrow slice of rtnetlink the transport needs. The default implementation
 * (`rtnetlink-port.ts`) talks to the kernel with the `netlink` package; tests pass a recording port
 * and compare the transcript of operations.
 *
 * Prefixes are CIDR strings (`10.100.2.0/24`, `10.101.0.2/32`, `fd00::/64`).
 */

export interface LinkInfo {
  index: number
  name: string
  /** IFF_UP is set. */
  up: boolean
  /** IFLA_INFO_KIND (`wireguard`, `veth`, …); undefined for links without one (e.g. a TUN made by wireguard-go reports `tun`). */
  kind?: string
}

export interface NetlinkPort {
  /** The link with this name, or undefined when there is none. */
  getLink(name: string): Promise<LinkInfo | undefined>
  /** Create a link of type `wireguard` (kernel backend). Fails when the kernel has no module. */
  createWireguardLink(name: string): Promise<void>
  /** Create a link of type `xfrm` (an XFRM interface, IPsec backend) with this if_id. */
  createXfrmLink(name: string, ifId: number): Promise<void>
  /** Delete a link (only used to undo a half-made link of our own). */
  deleteLink(index: number): Promise<void>
  /** Set IFF_UP. */
  setLinkUp(index: number): Promise<void>
  /** Addresses on the link, as `addr/prefixlen`. */
  getAddresses(index: number): Promise<string[]>
  /** Add `addr/prefixlen` to the link. */
  addAddress(index: number, cidr: string): Promise<void>
  /** Remove `addr/prefixlen` from the link. */
  delAddress(index: number, cidr: string): Promise<void>
  /** Destination prefixes (canonical) of main-table unicast routes latch installed (its rtm_protocol) whose output interface is this link. */
  getRoutes(index: number): Promise<string[]>
  /** Add (or replace) a main-table route `dst dev <index>`. */
  addRoute(index: number, dst: string): Promise<void>
  /** Delete the main-table route `dst dev <index>`. */
  delRoute(index: number, dst: string): Promise<void>
  /** Release the socket. */
  close(): void
}

/**
 * Finding a workload's host-side interface in latchd's network namespace: by name (if_nametoindex
 * through the native addon, so it answers for the namespace latchd runs in, whatever /sys shows),
 * and from the other end of a veth — the interface a container sees inside its network namespace,
 * whose peer index (`link_index` of `ip -d link`) names the host side.
 */
import { execa } from 'execa'
import { LatchError } from '../base/errors.js'
import { native } from '../datapath/native.js'

export interface HostInterface {
  name: string
  ifindex: number
}

export interface InterfaceLookup {
  /** The interface's index here, or undefined when there is none of that name. */
  ifindex(name: string): number | undefined
  /** The name of the interface with this index here, or undefined. */
  nameOf(ifindex: number): string | undefined
  /** The host-side end (here) of the veth `ifname` inside the network namespace at `netns`. */
  hostPeerOf(netns: string, ifname: string): Promise<HostInterface>
}

const noPeer = (message: string, details: Record<string, unknown>, cause?: unknown) =>
  new LatchError('LATCH_ERR_WORKLOAD_BAD_REQUEST', message, {
    details,
    ...(cause !== undefined && { cause }),
  })

export const systemInterfaces: InterfaceLookup = {
  ifindex(name) {
    const i = native().ifNameToIndex(name)
    return i > 0 ? i : undefined
  },
  nameOf(ifindex) {
    return native().ifIndexToName(ifindex) ?? undefined
  },
  async hostPeerOf(netns, ifname) {
    const r = await execa('nsenter', [`--net=${netns}`, 'ip', '-j', '-d', 'link', 'show', 'dev', ifname], {
      reject: false,
      timeout: 5000,
    })
    if (r.exitCode !== 0) {
      throw noPeer(`no interface ${ifname} in network namespace ${netns}: ${String(r.stderr).trim()}`, {
        netns,
        ifname,
      })
    }
    let links: Array<{ link_index?: number; linkinfo?: { info_kind?: string } }>
    try {
      links = JSON.parse(String(r.stdout))
    } catch (err) {
      throw noPeer(`cannot read ${ifname} in ${netns}: ip printed no JSON`, { netns, ifname }, err)
    }
    const peer = links[0]?.link_index
    if (links[0]?.linkinfo?.info_kind !== 'veth' || peer === undefined) {
      throw noPeer(`${ifname} in ${netns} is not a veth: latch needs its host-side peer to enforce`, {
        netns,
        ifname,
      })
    }
    const name = native().ifIndexToName(peer)
    if (name === null) {
      throw noPeer(`the peer of ${ifname} in ${netns} (index ${peer}) is not in latchd's network namespace`, {
        netns,
        ifname,
      })
    }
    return { name, ifindex: peer }
  },
}

/**
 * SO_BINDTODEVICE through the native addon: the pair-auth listener accepts only what arrived
 * through the WireGuard interface; the kernel resets a SYN that came any other way (e.g. routed to
 * the tunnel address straight over the underlay). The first bind of a socket needs no capability
 * (Linux >= 5.7; CAP_NET_RAW only to re-bind a bound socket, or on older kernels).
 */

import { LatchError } from '../base/errors.js'
import { native } from '../datapath/native.js'

export function bindToDevice(fd: number, ifname: string): void {
  try {
    native().bindToDevice(fd, ifname)
  } catch (err) {
    throw new LatchError(
      'LATCH_ERR_DAEMON_LISTEN_FAILED',
      `cannot bind the pair-auth listener to ${ifname} (SO_BINDTODEVICE: ${(err as Error).message}); on kernels before 5.7 latchd needs CAP_NET_RAW`,
      { cause: err, details: { interface: ifname } },
    )
  }
}

/**
 * The slice of XFRM latch's IPsec backend needs, and its implementation on a NETLINK_XFRM socket
 * (the `netlink` package's raw socket; the messages are built in codec.ts). One message per SA or
 * policy change, no process: this is how latchd programs ESP. Tests pass a recording port.
 */
import { createNetlink, FlagsGet, FlagsNew, type NetlinkSocket } from 'netlink'
import { LatchError } from '../../base/errors.js'
import {
  decodePolicy,
  decodeSa,
  type EspPolicy,
  type EspSa,
  encodeDelPolicy,
  encodeDelSa,
  encodeNewSa,
  encodePolicy,
  type PolicyInfo,
  type SaInfo,
  XFRM_MSG,
} from './codec.js'

const NETLINK_XFRM = 6

export interface XfrmPort {
  /** ESP SAs of this network namespace. */
  listSas(): Promise<SaInfo[]>
  addSa(sa: EspSa): Promise<void>
  /** Remove an SA; one that is already gone counts as removed. */
  delSa(sa: { src: string; dst: string; spi: number }): Promise<void>
  listPolicies(): Promise<PolicyInfo[]>
  /** Create or replace the policy of (selector, direction, if_id). */
  putPolicy(p: EspPolicy): Promise<void>
  /** Remove a policy; one that is already gone counts as removed. */
  delPolicy(p: { dir: EspPolicy['dir']; sel: EspPolicy['sel']; ifId: number }): Promise<void>
  close(): void
}

export class NetlinkXfrmPort implements XfrmPort {
  readonly #socket: NetlinkSocket
  /** The request in flight: one at a time (see #call). */
  #tail: Promise<unknown> = Promise.resolve()

  constructor() {
    this.#socket = createNetlink(NETLINK_XFRM)
  }

  async listSas(): Promise<SaInfo[]> {
    const [msgs] = await this.#call('list SAs', () =>
      this.#socket.request(XFRM_MSG.GETSA, Buffer.alloc(0), { flags: FlagsGet.DUMP }),
    )
    return msgs.flatMap((m) => (m.type === XFRM_MSG.NEWSA ? [decodeSa(m.data)].filter(isDefined) : []))
  }

  async addSa(sa: EspSa): Promise<void> {
    await this.#call(`add SA spi 0x${sa.spi.toString(16)} to ${sa.dst}`, () =>
      this.#socket.request(XFRM_MSG.NEWSA, encodeNewSa(sa), { flags: FlagsNew.CREATE | FlagsNew.EXCL }),
    )
  }

  async delSa(sa: { src: string; dst: string; spi: number }): Promise<void> {
    await this.#call(
      `delete SA spi 0x${sa.spi.toString(16)} to ${sa.dst}`,
      () => this.#socket.request(XFRM_MSG.DELSA, encodeDelSa(sa)),
      true,
    )
  }

  async listPolicies(): Promise<PolicyInfo[]> {
    const [msgs] = await this.#call('list policies', () =>
      this.#socket.request(XFRM_MSG.GETPOLICY, Buffer.alloc(0), { flags: FlagsGet.DUMP }),
    )
    return msgs.flatMap((m) =>
      m.type === XFRM_MSG.NEWPOLICY ? [decodePolicy(m.data)].filter(isDefined) : [],
    )
  }

  async putPolicy(p: EspPolicy): Promise<void> {
    await this.#call(`set policy ${p.dir} ${p.sel.src} -> ${p.sel.dst}`, () =>
      this.#socket.request(XFRM_MSG.UPDPOLICY, encodePolicy(p)),
    )
  }

  async delPolicy(p: { dir: EspPolicy['dir']; sel: EspPolicy['sel']; ifId: number }): Promise<void> {
    await this.#call(
      `delete policy ${p.dir} ${p.sel.src} -> ${p.sel.dst}`,
      () => this.#socket.request(XFRM_MSG.DELPOLICY, encodeDelPolicy(p)),
      true,
    )
  }

  close(): void {
    this.#socket.socket.close()
  }

  /**
   * One request at a time on the socket: the kernel runs one dump per netlink socket and answers a
   * second request meanwhile with EBUSY, whose error message lands inside the first dump's reply
   * (the `netlink` package then fails that dump: "Multipart message not terminated properly"). A
   * status read (SAs and policies) racing a reconcile did exactly that.
   */
  #call<T>(what: string, fn: () => Promise<T>, goneIsFine = false): Promise<T> {
    const run = this.#tail.then(
      () => this.#once(what, fn, goneIsFine),
      () => this.#once(what, fn, goneIsFine),
    )
    this.#tail = run.catch(() => undefined)
    return run
  }

  async #once<T>(what: string, fn: () => Promise<T>, goneIsFine: boolean): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      if (goneIsFine && /ESRCH|ENOENT/.test(msg)) return undefined as T
      const unsupported = /EPROTONOSUPPORT|ENOSYS|EAFNOSUPPORT|ENOPROTOOPT/.test(msg)
      throw new LatchError(
        unsupported ? 'LATCH_ERR_IPSEC_KERNEL_UNSUPPORTED' : 'LATCH_ERR_IPSEC_NETLINK_FAILED',
        `xfrm netlink: ${what} failed: ${msg}`,
        { cause: err },
      )
    }
  }
}

function isDefined<T>(x: T | undefined): x is T {
  return x !== undefined
}

/** endpoints: a workload's host-side ifindex -> its identity and the addresses it may send from. */
import { LatchError } from '../../base/errors.js'
import {
  decodeLatchEndpointValue,
  encodeLatchEndpointValue,
  LatchEndpointValueLayout,
  LatchLimits,
} from '../abi/generated.js'
import { bytesToIp, ipToBytes } from '../addr.js'
import { call, type NativeBpfMap } from '../native.js'
import { checkGeometry, checkId, checkIfindex, type OnMapWrite } from './common.js'

export interface Endpoint {
  /** host-side interface of the workload */
  ifindex: number
  identity: number
  /** addresses the workload may send from (at most LATCH_MAX_ENDPOINT_ADDRS) */
  addrs: string[]
}

export class EndpointsMap {
  constructor(
    private readonly map: NativeBpfMap,
    /** runs after every write (the Datapath bumps the verdict generation) */
    private readonly onWrite: OnMapWrite = () => undefined,
  ) {
    checkGeometry(map, 'endpoints', 4, LatchEndpointValueLayout.size)
  }
  private wrote<T>(result: T): T {
    this.onWrite()
    return result
  }

  private static key(ifindex: number): Buffer {
    checkIfindex(ifindex)
    if (ifindex === 0) throw new LatchError('LATCH_ERR_BPF_BAD_ARGUMENT', 'an endpoint needs an ifindex > 0')
    const k = Buffer.alloc(4)
    k.writeUInt32LE(ifindex)
    return k
  }

  private static value(e: Endpoint, buf?: Buffer, off?: number): Buffer {
    checkId(e.identity, `identity of endpoint ifindex ${e.ifindex}`)
    const max = LatchLimits.LATCH_MAX_ENDPOINT_ADDRS
    if (e.addrs.length === 0 || e.addrs.length > max) {
      throw new LatchError(
        'LATCH_ERR_BPF_BAD_ARGUMENT',
        `endpoint ifindex ${e.ifindex} needs 1..${max} addresses, got ${e.addrs.length}`,
      )
    }
    const addrs = e.addrs.map((a) => ({ addr: ipToBytes(a) }))
    return encodeLatchEndpointValue({ identity: e.identity, nAddrs: addrs.length, addrs }, buf, off)
  }

  set(e: Endpoint): void {
    const value = EndpointsMap.value(e)
    const key = EndpointsMap.key(e.ifindex)
    this.wrote(call(() => this.map.update(key, value), 'endpoints update'))
  }

  /** Inserts or replaces endpoints: one syscall for any number of them. */
  setMany(entries: readonly Endpoint[]): number {
    if (entries.length === 0) return 0
    const vs = LatchEndpointValueLayout.size
    const keys = Buffer.alloc(entries.length * 4)
    const values = Buffer.alloc(entries.length * vs)
    entries.forEach((e, i) => {
      EndpointsMap.key(e.ifindex).copy(keys, i * 4)
      EndpointsMap.value(e, values, i * vs)
    })
    return this.wrote(call(() => this.map.updateBatch(keys, values, entries.length), 'endpoints update'))
  }

  /** Deletes endpoints at once; returns how many existed. */
  deleteMany(ifindexes: readonly number[]): number {
    if (ifindexes.length === 0) return 0
    const keys = Buffer.alloc(ifindexes.length * 4)
    ifindexes.forEach((ifindex, i) => {
      EndpointsMap.key(ifindex).copy(keys, i * 4)
    })
    return this.wrote(call(() => this.map.deleteMany(keys, ifindexes.length), 'endpoints delete'))
  }

  delete(ifindex: number): boolean {
    const key = EndpointsMap.key(ifindex)
    return this.wrote(call(() => this.map.delete(key), 'endpoints delete'))
  }

  private static decode(ifindex: number, value: Buffer): Endpoint {
    const v = decodeLatchEndpointValue(value)
    const n = Math.min(v.nAddrs, v.addrs.length)
    return { ifindex, identity: v.identity, addrs: v.addrs.slice(0, n).map((a) => bytesToIp(a.addr)) }
  }

  get(ifindex: number): Endpoint | null {
    const value = Buffer.alloc(LatchEndpointValueLayout.size)
    const key = EndpointsMap.key(ifindex)
    return call(() => this.map.lookup(key, value), 'endpoints lookup')
      ? EndpointsMap.decode(ifindex, value)
      : null
  }

  list(): Endpoint[] {
    const d = call(() => this.map.dump(), 'endpoints dump')
    const vs = LatchEndpointValueLayout.size
    return Array.from({ length: d.count }, (_, i) =>
      EndpointsMap.decode(d.keys.readUInt32LE(i * 4), d.values.subarray(i * vs, (i + 1) * vs)),
    ).sort((a, b) => a.ifindex - b.ifindex)
  }
}

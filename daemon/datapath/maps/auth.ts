/** auth: (source identity, destination identity) -> expiry, written and read in wall-clock terms. */
import { LatchError } from '../../base/errors.js'
import {
  decodeLatchAuthKey,
  decodeLatchAuthValue,
  encodeLatchAuthKey,
  encodeLatchAuthValue,
  LatchAuthKeyLayout,
  LatchAuthValueLayout,
} from '../abi/generated.js'
import { bootNsToWall, type DatapathClock, wallToBootNs } from '../clock.js'
import { call, type NativeBpfMap } from '../native.js'
import { checkGeometry, checkId, type OnMapWrite } from './common.js'

export interface AuthPair {
  srcId: number
  dstId: number
}

export interface AuthEntry extends AuthPair {
  expiresAt: Date
}

export interface AuthListing extends AuthEntry {
  expiresBootNs: bigint
  expired: boolean
}

export class AuthMap {
  constructor(
    private readonly map: NativeBpfMap,
    private readonly clock: DatapathClock,
    /** runs after every write (the Datapath bumps the verdict generation) */
    private readonly onWrite: OnMapWrite = () => undefined,
  ) {
    checkGeometry(map, 'auth', LatchAuthKeyLayout.size, LatchAuthValueLayout.size)
  }
  private wrote<T>(result: T): T {
    this.onWrite()
    return result
  }

  private static key(p: AuthPair, buf?: Buffer, off?: number): Buffer {
    checkId(p.srcId, 'srcId')
    checkId(p.dstId, 'dstId')
    return encodeLatchAuthKey({ srcId: p.srcId, dstId: p.dstId }, buf, off)
  }

  /** Writes (src -> dst) pairs valid until expiresAt; one syscall for any number. */
  set(entries: readonly AuthEntry[]): number {
    if (entries.length === 0) return 0
    const s = this.clock.sample()
    const ks = LatchAuthKeyLayout.size
    const vs = LatchAuthValueLayout.size
    const keys = Buffer.alloc(entries.length * ks)
    const values = Buffer.alloc(entries.length * vs)
    entries.forEach((e, i) => {
      if (!(e.expiresAt instanceof Date) || Number.isNaN(e.expiresAt.getTime())) {
        throw new LatchError(
          'LATCH_ERR_BPF_BAD_ARGUMENT',
          `expiresAt of ${e.srcId}->${e.dstId} is not a valid date`,
        )
      }
      AuthMap.key(e, keys, i * ks)
      encodeLatchAuthValue({ expiresNs: wallToBootNs(e.expiresAt, s) }, values, i * vs)
    })
    return this.wrote(call(() => this.map.updateBatch(keys, values, entries.length), 'auth set'))
  }

  /** Removes pairs at once (policy change, revocation); returns how many existed. */
  delete(pairs: readonly AuthPair[]): number {
    if (pairs.length === 0) return 0
    const ks = LatchAuthKeyLayout.size
    const keys = Buffer.alloc(pairs.length * ks)
    for (const [i, p] of pairs.entries()) AuthMap.key(p, keys, i * ks)
    return this.wrote(call(() => this.map.deleteMany(keys, pairs.length), 'auth delete'))
  }

  list(): AuthListing[] {
    const s = this.clock.sample()
    const d = call(() => this.map.dump(), 'auth dump')
    const ks = LatchAuthKeyLayout.size
    const vs = LatchAuthValueLayout.size
    const out: AuthListing[] = []
    for (let i = 0; i < d.count; i++) {
      const k = decodeLatchAuthKey(d.keys, i * ks)
      const v = decodeLatchAuthValue(d.values, i * vs)
      out.push({
        srcId: k.srcId,
        dstId: k.dstId,
        expiresAt: bootNsToWall(v.expiresNs, s),
        expiresBootNs: v.expiresNs,
        expired: v.expiresNs <= s.bootNs,
      })
    }
    return out.sort((a, b) => a.srcId - b.srcId || a.dstId - b.dstId)
  }

  /** Deletes expired entries (they already deny; this frees the slots). Returns how many. */
  collectExpired(): number {
    return this.delete(this.list().filter((e) => e.expired))
  }
}

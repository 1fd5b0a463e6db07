/**
 * What this node knows of the other nodes' etcd registrations, and the peer list that follows. Pure:
 * events in (put, delete, a full listing after a (re)connect or a compaction), the list out; time is
 * passed in.
 *
 * Fail static: a deleted registration (its lease expired, or a listing no longer holds it) is kept as
 * "departing" for the peer grace period before it leaves the list, so a node whose keep-alives were
 * cut by an etcd outage is not torn out of the mesh at once; registering again within the grace
 * period brings it straight back. An invalid value is rejected and shown; the record it would replace
 * stays. Nothing here ever removes a peer because etcd is unreachable: no events, no change.
 */
import { type NodeRecord, parseRecord, recordToPeer } from './etcd-record.js'
import type { PeerEntry } from './peers-file.js'

export interface RejectedRecord {
  key: string
  problem: string
  at: number
}

export interface DepartingRecord {
  record: NodeRecord
  /** When it leaves the peer list unless it registers again (ms since the epoch). */
  until: number
}

export class EtcdView {
  readonly #prefix: string
  readonly #self: string
  readonly #graceMs: number
  readonly #live = new Map<string, NodeRecord>()
  readonly #departing = new Map<string, DepartingRecord>()
  readonly #rejected = new Map<string, RejectedRecord>()

  constructor(o: { prefix: string; self: string; gracePeriodMs: number }) {
    this.#prefix = o.prefix
    this.#self = o.self
    this.#graceMs = o.gracePeriodMs
  }

  /** A key under the prefix was written. Returns a rejection to report, if the value is refused. */
  put(key: string, value: string, now: number): RejectedRecord | undefined {
    if (this.#isSelf(key)) return undefined
    const v = parseRecord(this.#prefix, key, value)
    if (!v.ok) {
      const r = { key, problem: v.problem, at: now }
      this.#rejected.set(key, r)
      return r
    }
    this.#rejected.delete(key)
    this.#departing.delete(v.record.name)
    this.#live.set(v.record.name, v.record)
    return undefined
  }

  /** A key under the prefix was deleted (lease expired or revoked, or deleted by hand). */
  delete(key: string, now: number): void {
    if (this.#isSelf(key)) return
    this.#rejected.delete(key)
    const name = key.slice(this.#prefix.length)
    const r = this.#live.get(name)
    if (!r) return
    this.#live.delete(name)
    this.#departing.set(name, { record: r, until: now + this.#graceMs })
  }

  /**
   * A complete listing of the prefix (at start, after a reconnect whose revision was compacted, …):
   * every key not in it is deleted, every key in it put. Returns the rejections among them.
   */
  resync(kvs: ReadonlyArray<{ key: string; value: string }>, now: number): RejectedRecord[] {
    const keys = new Set(kvs.map((kv) => kv.key))
    for (const name of [...this.#live.keys()]) {
      const key = `${this.#prefix}${name}`
      if (!keys.has(key)) this.delete(key, now)
    }
    for (const key of [...this.#rejected.keys()]) if (!keys.has(key)) this.#rejected.delete(key)
    const rejected: RejectedRecord[] = []
    for (const kv of kvs) {
      const r = this.put(kv.key, kv.value, now)
      if (r) rejected.push(r)
    }
    return rejected
  }

  /** Drop departing records whose grace ended; returns their names. */
  expire(now: number): string[] {
    const gone: string[] = []
    for (const [name, d] of this.#departing) {
      if (d.until <= now) {
        this.#departing.delete(name)
        gone.push(name)
      }
    }
    return gone
  }

  /** When the next departing record leaves, if any. */
  nextExpiry(): number | undefined {
    let next: number | undefined
    for (const d of this.#departing.values()) if (next === undefined || d.until < next) next = d.until
    return next
  }

  /** The peer list: live and departing records, sorted by name, frozen. */
  peers(): readonly PeerEntry[] {
    const all = [...this.#live.values(), ...[...this.#departing.values()].map((d) => d.record)]
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    return Object.freeze(all.map(recordToPeer))
  }

  get liveCount(): number {
    return this.#live.size
  }

  departing(): Array<{ name: string; until: number }> {
    return [...this.#departing].map(([name, d]) => ({ name, until: d.until }))
  }

  rejected(): RejectedRecord[] {
    return [...this.#rejected.values()]
  }

  #isSelf(key: string): boolean {
    return key === `${this.#prefix}${this.#self}`
  }
}

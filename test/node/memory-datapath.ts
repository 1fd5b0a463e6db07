/**
 * An in-memory IdentityDatapath for tests of the daemon's pair service (the real one is eBPF maps,
 * used in the lab e2e). It derives entries from the proven pairs with the datapath's own pure
 * function (factsOfProvenPairs) and records every entry that changed, in order, as the writes a
 * single-entry datapath would make: `set ID IPS`, `remove ID`, `authorize SRC DST`, `revoke SRC DST`.
 */
import { factsOfProvenPairs } from '../../daemon/engine/datapath-desired.js'
import type {
  AuthPairEntry,
  AuthRequiredEvent,
  IdentityDatapath,
  ProvenPair,
} from '../../daemon/engine/identity-datapath.js'

export class MemoryDatapath implements IdentityDatapath {
  readonly auth = new Map<string, Date>()
  readonly remote = new Map<string, readonly string[]>()
  readonly calls: string[] = []
  /** setProvenPairs calls (each one reconcile of the real datapath) */
  readonly sets: ProvenPair[][] = []
  readonly #listeners = new Set<(e: AuthRequiredEvent) => void>()
  /** entries written by hand (revoke may delete them), apart from the proven ones */
  readonly #manual = new Map<string, Date>()

  async setProvenPairs(pairs: readonly ProvenPair[]): Promise<void> {
    this.sets.push([...pairs])
    const facts = factsOfProvenPairs(pairs)
    for (const id of [...this.remote.keys()]) {
      if (facts.remote.has(id)) continue
      this.calls.push(`remove ${id}`)
      this.remote.delete(id)
    }
    for (const [id, ips] of facts.remote) {
      if (this.remote.get(id)?.join() === ips.join()) continue
      this.calls.push(`set ${id} ${ips.join(',')}`)
      this.remote.set(id, ips)
    }
    const want = new Map(this.#manual)
    for (const [k, a] of facts.auth) want.set(k, a.expiresAt)
    for (const k of [...this.auth.keys()]) {
      if (want.has(k)) continue
      this.calls.push(`revoke ${k}`)
      this.auth.delete(k)
    }
    for (const [k, at] of want) {
      if (this.auth.get(k)?.getTime() === at.getTime()) continue
      this.calls.push(`authorize ${k}`)
      this.auth.set(k, at)
    }
  }

  async revoke(src: string, dst: string): Promise<void> {
    const k = `${src} ${dst}`
    this.#manual.delete(k)
    if (this.sets.at(-1)?.some((p) => `${p.local} ${p.remote}` === k || `${p.remote} ${p.local}` === k))
      return
    if (!this.auth.delete(k)) return
    this.calls.push(`revoke ${k}`)
  }

  async listAuth(): Promise<AuthPairEntry[]> {
    return [...this.auth].map(([k, expiresAt]) => {
      const [src = '', dst = ''] = k.split(' ')
      return { src, dst, expiresAt }
    })
  }

  /** the last policy handed over (not in `calls`: the transcript is about pairs) */
  policy: import('../../daemon/policy/compiled.js').CompiledPolicy | undefined

  async setPolicy(policy: import('../../daemon/policy/compiled.js').CompiledPolicy): Promise<void> {
    this.policy = policy
  }

  onAuthRequired(listener: (e: AuthRequiredEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** A dropped packet: tell the subscribers. */
  emit(e: AuthRequiredEvent): void {
    for (const l of this.#listeners) l(e)
  }

  has(src: string, dst: string): boolean {
    return this.auth.has(`${src} ${dst}`)
  }
}

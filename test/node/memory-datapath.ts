/**
 * An in-memory IdentityDatapath for tests of the daemon's pair service (the real one is eBPF maps,
 * used in the lab e2e). Records every call in order, keeps auth entries and remote identities.
 */
import type {
  AuthPairEntry,
  AuthRequiredEvent,
  IdentityDatapath,
} from '../../daemon/engine/identity-datapath.js'
import type { CompiledPolicy } from '../../daemon/policy/compiled.js'

export class MemoryDatapath implements IdentityDatapath {
  readonly auth = new Map<string, Date>()
  readonly remote = new Map<string, readonly string[]>()
  readonly calls: string[] = []
  /** the last policy handed over (not in `calls`: the transcript is about pairs) */
  policy: CompiledPolicy | undefined
  readonly #listeners = new Set<(e: AuthRequiredEvent) => void>()

  async setRemoteIdentity(id: string, ips: readonly string[]): Promise<void> {
    this.calls.push(`set ${id} ${ips.join(',')}`)
    this.remote.set(id, [...ips])
  }

  async removeRemoteIdentity(id: string): Promise<void> {
    this.calls.push(`remove ${id}`)
    this.remote.delete(id)
    for (const k of [...this.auth.keys()]) if (k.split(' ').includes(id)) this.auth.delete(k)
  }

  async authorize(src: string, dst: string, expiresAt: Date): Promise<void> {
    this.calls.push(`authorize ${src} ${dst}`)
    this.auth.set(`${src} ${dst}`, expiresAt)
  }

  async revoke(src: string, dst: string): Promise<void> {
    this.calls.push(`revoke ${src} ${dst}`)
    this.auth.delete(`${src} ${dst}`)
  }

  async listAuth(): Promise<AuthPairEntry[]> {
    return [...this.auth].map(([k, expiresAt]) => {
      const [src = '', dst = ''] = k.split(' ')
      return { src, dst, expiresAt }
    })
  }

  async setPolicy(policy: CompiledPolicy): Promise<void> {
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

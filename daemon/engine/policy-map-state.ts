/**
 * The policy map's desired content, kept between reconciles (issue 10, Build 9: big policies stay
 * cheap). A policy hand-over (`prepare`) turns the rules into entries and diffs them against what
 * the pinned map holds (the planner's own policyDiff, run in steps) a chunk per event-loop turn, so
 * 100k rules never run in one turn; the
 * reconcile applies the prepared changes with its other batches. A policy within one chunk is
 * prepared without yielding (in microtasks), so the reconcile scheduled in the turn of the
 * hand-over already applies it, in the apply order of datapath-apply.ts. When the identity allocation
 * grows, `resolve` writes the rules the new ids complete: a scan of the rules still waiting for an
 * identity, never of all of them. Pure apart from yielding to the event loop.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { PolicyEntry, PolicyPair } from '../datapath/index.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import type { PolicyRule } from '../policy/types.js'
import { authKey } from './datapath-desired.js'
import { type MapChanges, policyDiff } from './datapath-plan.js'
import { compareEntries, policyEntryOf } from './policy-entries.js'

/** Rules (or map entries) handled per event-loop turn. */
export const POLICY_CHUNK = 5000

type IdOf = (spiffeId: string) => number | undefined

export class PolicyMapState {
  /** authKey(srcId, dstId) → entry: every rule whose identities have ids */
  readonly entries = new Map<string, PolicyEntry>()
  #waiting: PolicyRule[] = []
  /** the allocation's size `#waiting` was last resolved against */
  #idsSize: number

  private constructor(
    readonly policy: CompiledPolicy,
    idsSize: number,
  ) {
    this.#idsSize = idsSize
  }

  /**
   * The state of `policy` under the ids `idOf` knows now (`idsSize` of them) and the changes that
   * bring the map's `actual` content to it (deletes of entries no rule wants, writes of new and
   * changed ones, each sorted by key).
   */
  static async prepare(
    policy: CompiledPolicy,
    idOf: IdOf,
    idsSize: number,
    actual: readonly PolicyEntry[],
    chunk = POLICY_CHUNK,
  ): Promise<{ state: PolicyMapState; changes: MapChanges<PolicyEntry, PolicyPair> }> {
    const state = new PolicyMapState(policy, idsSize)
    const rules = policy.rules
    for (let i = 0; i < rules.length; i += chunk) {
      for (const rule of rules.slice(i, i + chunk)) state.#add(rule, idOf)
      if (i + chunk < rules.length) await nextTurn()
    }
    const have = new Map<string, PolicyEntry>()
    for (let i = 0; i < actual.length; i += chunk) {
      for (const e of actual.slice(i, i + chunk)) have.set(authKey(e.srcId, e.dstId), e)
      if (i + chunk < actual.length) await nextTurn()
    }
    const steps = policyDiff(state.entries, have, chunk)
    let step = steps.next()
    while (!step.done) {
      await nextTurn()
      step = steps.next()
    }
    const changes = step.value
    changes.write.sort(compareEntries)
    changes.delete.sort(compareEntries)
    return { state, changes }
  }

  /** Rules that wait for an identity id. */
  get waiting(): number {
    return this.#waiting.length
  }

  /** The entries of waiting rules the allocation (now `idsSize` ids) completes; [] if it did not grow. */
  resolve(idOf: IdOf, idsSize: number): PolicyEntry[] {
    if (idsSize === this.#idsSize || this.#waiting.length === 0) return []
    this.#idsSize = idsSize
    const waiting = this.#waiting
    this.#waiting = []
    const added: PolicyEntry[] = []
    for (const rule of waiting) {
      const e = this.#add(rule, idOf)
      if (e !== undefined) added.push(e)
    }
    return added.sort(compareEntries)
  }

  /** Files the rule's entry (returned) or, while an identity has no id, puts it to wait. */
  #add(rule: PolicyRule, idOf: IdOf): PolicyEntry | undefined {
    const e = policyEntryOf(rule, idOf, this.policy.file)
    if (e === undefined) this.#waiting.push(rule)
    else this.entries.set(authKey(e.srcId, e.dstId), e)
    return e
  }
}

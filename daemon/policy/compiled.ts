/**
 * A validated policy compiled into a lookup table: from → to → PortSet, built once. `allows()` and
 * `pairAllowed()` allocate nothing per call. Pure and immutable.
 */

import { createHash } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { type PackedRules, packedCount, unpackPairs, unpackRules } from './packed.js'
import { PortSet, type PortSpec, type Protocol } from './ports.js'
import { type IdentityPair, NODE_SOURCE, type PolicyRule, type PolicyTest } from './types.js'

/** Why `explain()` answered what it did: the deciding rule, if any. */
export interface Verdict {
  readonly allowed: boolean
  /** The rule for this from → to, if there is one (it allows, or it allows other ports only). */
  readonly rule: PolicyRule | undefined
  /** The rule for the reverse direction, when there is no rule for this one (a common mistake). */
  readonly reverse: PolicyRule | undefined
}

export class CompiledPolicy {
  /** The file it came from (as given), for messages. */
  readonly file: string
  readonly trustDomain: string
  readonly rules: readonly PolicyRule[]
  readonly tests: readonly PolicyTest[]
  /** Every SPIFFE ID some rule names, sorted (NODE_SOURCE is not one). */
  readonly identities: readonly string[]
  /** sha256 (hex) of the rules' meaning: the same for two files that differ only in layout/comments. */
  readonly digest: string
  readonly #table: ReadonlyMap<string, ReadonlyMap<string, PortSet>>
  readonly #rules: ReadonlyMap<string, ReadonlyMap<string, PolicyRule>>
  readonly #pairs: readonly IdentityPair[]

  constructor(
    file: string,
    trustDomain: string,
    rules: readonly PolicyRule[],
    tests: readonly PolicyTest[],
    /** the tables already built and summarised (CompiledPolicy.fromPacked); omitted: done here */
    parts?: { table: TableBuilder; summary: PolicySummary },
  ) {
    this.file = file
    this.trustDomain = trustDomain
    this.rules = Object.freeze([...rules])
    this.tests = Object.freeze([...tests])
    let p = parts
    if (p === undefined) {
      const table = new TableBuilder()
      for (const r of rules) table.add(r)
      p = { table, summary: summarize(trustDomain, table) }
    }
    this.#table = p.table.table
    this.#rules = p.table.byPair
    this.identities = p.summary.identities
    this.#pairs = p.summary.pairs
    this.digest = p.summary.digest
    Object.freeze(this)
  }

  /**
   * The compile worker's answer (compile-async.ts) made a CompiledPolicy on this thread, `chunk`
   * rules per event-loop turn (setImmediate between chunks), so a big policy does not stall
   * latchd: the rules are unpacked and added to the lookup tables here; the sorts and the digest
   * came from the worker (`summarize`, the same code as the constructor's).
   */
  static async fromPacked(
    file: string,
    trustDomain: string,
    packed: PackedRules,
    summary: PackedSummary,
    tests: readonly PolicyTest[],
    chunk = 2500,
  ): Promise<CompiledPolicy> {
    const table = new TableBuilder(false)
    const rules: PolicyRule[] = []
    const n = packedCount(packed)
    for (let i = 0; i < n; i += chunk) {
      const end = Math.min(n, i + chunk)
      unpackRules(packed, i, end, rules)
      for (let j = i; j < end; j++) table.add(rules[j]!)
      await nextTurn()
    }
    const pairs: IdentityPair[] = []
    const pairCount = summary.pairs.length / 2
    for (let i = 0; i < pairCount; i += chunk * 4) {
      unpackPairs(packed, summary.pairs, i, Math.min(pairCount, i + chunk * 4), pairs)
      await nextTurn()
    }
    return new CompiledPolicy(file, trustDomain, rules, tests, {
      table,
      summary: {
        identities: Object.freeze([...summary.identities]),
        pairs: Object.freeze(pairs),
        digest: summary.digest,
      },
    })
  }

  /**
   * May `from` open a flow to `to`? Directional. `proto` omitted: on anything at all; `port` omitted:
   * on at least one port of `proto`. ICMP ignores `port`. A protocol given as an IANA number that
   * no port spec names (e.g. 47, GRE) is allowed only by rules without ports. Allocates nothing.
   */
  allows(from: string, to: string, proto?: Protocol, port?: number): boolean {
    const set = this.#table.get(from)?.get(to)
    return set?.has(proto, port) === true
  }

  /**
   * May `a` and `b` exchange packets at all, i.e. is there a rule in either direction? This is the
   * question for auth entries: the daemon keeps auth[(a, b)] and auth[(b, a)] exactly when it holds
   * (and both identities authenticated). Allocates nothing.
   */
  pairAllowed(a: string, b: string): boolean {
    if (a === NODE_SOURCE || b === NODE_SOURCE) return false
    return this.#table.get(a)?.has(b) === true || this.#table.get(b)?.has(a) === true
  }

  /** The unordered pairs `pairAllowed` holds for, each once with a <= b, sorted. */
  allowedPairs(): readonly IdentityPair[] {
    return this.#pairs
  }

  /** Like `allows`, with the rule that decided, for test reports and `latchctl` output. */
  explain(from: string, to: string, proto?: Protocol, port?: number): Verdict {
    const rule = this.#rules.get(from)?.get(to)
    const reverse = rule === undefined ? this.#rules.get(to)?.get(from) : undefined
    return { allowed: this.allows(from, to, proto, port), rule, reverse }
  }

  /** The allowed ports of a rule from → to as canonical texts ([] = any), or undefined without a rule. */
  portsOf(from: string, to: string): string[] | undefined {
    return this.#table.get(from)?.get(to)?.describe()
  }
}

/** The lookup structures of a CompiledPolicy, filled rule by rule. */
export class TableBuilder {
  readonly table = new Map<string, Map<string, PortSet>>()
  readonly byPair = new Map<string, Map<string, PolicyRule>>()
  readonly ids = new Set<string>()
  readonly pairs = new Map<string, IdentityPair>()
  /** one PortSet per distinct ports list (rules unpacked from a PackedRules share their lists) */
  readonly #sets = new Map<readonly PortSpec[], PortSet>()

  /** @param summarising false: the identities and pairs are not collected (the summary is given) */
  constructor(readonly summarising = true) {}

  add(r: PolicyRule): void {
    inner(this.table, r.from).set(r.to, this.#setOf(r.ports))
    inner(this.byPair, r.from).set(r.to, r)
    if (!this.summarising) return
    // the node's own traffic is not a workload identity and is never pair-authenticated
    if (r.from === NODE_SOURCE) {
      this.ids.add(r.to)
      return
    }
    this.ids.add(r.from).add(r.to)
    const pair = r.from <= r.to ? { a: r.from, b: r.to } : { a: r.to, b: r.from }
    this.pairs.set(`${pair.a}\n${pair.b}`, Object.freeze(pair))
  }

  #setOf(ports: readonly PortSpec[] | undefined): PortSet {
    if (ports === undefined) return PortSet.ANY
    let set = this.#sets.get(ports)
    if (set === undefined) {
      set = PortSet.of(ports)
      this.#sets.set(ports, set)
    }
    return set
  }
}

/** What a CompiledPolicy derives from all its rules at once (sorts and a hash). */
export interface PolicySummary {
  /** every SPIFFE ID some rule names, sorted */
  readonly identities: readonly string[]
  /** the unordered pairs, sorted */
  readonly pairs: readonly IdentityPair[]
  readonly digest: string
}

/** A PolicySummary as the compile worker sends it: the pairs as indices into the packing's strings. */
export interface PackedSummary {
  readonly identities: readonly string[]
  readonly pairs: Int32Array
  readonly digest: string
}

/** The summary of a table built with `summarising` on. */
export function summarize(trustDomain: string, b: TableBuilder): PolicySummary {
  return {
    identities: Object.freeze([...b.ids].sort()),
    pairs: Object.freeze([...b.pairs.values()].sort(comparePairs)),
    digest: digestOf(trustDomain, b.table),
  }
}

function inner<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = outer.get(key)
  if (m === undefined) {
    m = new Map()
    outer.set(key, m)
  }
  return m
}

export function comparePairs(x: IdentityPair, y: IdentityPair): number {
  if (x.a !== y.a) return x.a < y.a ? -1 : 1
  if (x.b !== y.b) return x.b < y.b ? -1 : 1
  return 0
}

function digestOf(trustDomain: string, table: ReadonlyMap<string, ReadonlyMap<string, PortSet>>): string {
  // sorted by "from\nto" (each key built once, not per comparison: 100k rules sort in one turn)
  const keyed: { key: string; entry: [string, string, string[] | 'any'] }[] = []
  for (const [from, tos] of table) {
    for (const [to, set] of tos) {
      keyed.push({ key: `${from}\n${to}`, entry: [from, to, set.any ? 'any' : set.describe()] })
    }
  }
  keyed.sort((x, y) => (x.key < y.key ? -1 : 1))
  const canonical = keyed.map((k) => k.entry)
  return createHash('sha256')
    .update(JSON.stringify({ version: 1, trustDomain, rules: canonical }))
    .digest('hex')
}

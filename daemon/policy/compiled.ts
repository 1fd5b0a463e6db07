/**
 * A validated policy compiled into a lookup table: from → to → PortSet, built once. `allows()` and
 * `pairAllowed()` allocate nothing per call. Pure and immutable.
 */
import { createHash } from 'node:crypto'
import { PortSet, type Protocol } from './ports.js'
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
    /** the rules already added (CompiledPolicy.build); omitted: added here, in one go */
    built?: TableBuilder,
  ) {
    this.file = file
    this.trustDomain = trustDomain
    this.rules = Object.freeze([...rules])
    this.tests = Object.freeze([...tests])
    let b = built
    if (b === undefined) {
      b = new TableBuilder()
      for (const r of rules) b.add(r)
    }
    this.#table = b.table
    this.#rules = b.byPair
    this.identities = Object.freeze([...b.ids].sort())
    this.#pairs = Object.freeze([...b.pairs.values()].sort(comparePairs))
    this.digest = digestOf(trustDomain, this.#table)
    Object.freeze(this)
  }

  /**
   * The same as the constructor, with the rules added `chunk` at a time and the event loop let run
   * between chunks (setImmediate), so a big policy does not stall latchd's event loop.
   */
  static async build(
    file: string,
    trustDomain: string,
    rules: readonly PolicyRule[],
    tests: readonly PolicyTest[],
    chunk = 5000,
  ): Promise<CompiledPolicy> {
    const b = new TableBuilder()
    for (let i = 0; i < rules.length; i += chunk) {
      const end = Math.min(rules.length, i + chunk)
      for (let j = i; j < end; j++) b.add(rules[j]!)
      if (end < rules.length) await new Promise((res) => setImmediate(res))
    }
    return new CompiledPolicy(file, trustDomain, rules, tests, b)
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
class TableBuilder {
  readonly table = new Map<string, Map<string, PortSet>>()
  readonly byPair = new Map<string, Map<string, PolicyRule>>()
  readonly ids = new Set<string>()
  readonly pairs = new Map<string, IdentityPair>()

  add(r: PolicyRule): void {
    const set = r.ports === undefined ? PortSet.ANY : PortSet.of(r.ports)
    inner(this.table, r.from).set(r.to, set)
    inner(this.byPair, r.from).set(r.to, r)
    // the node's own traffic is not a workload identity and is never pair-authenticated
    if (r.from === NODE_SOURCE) {
      this.ids.add(r.to)
      return
    }
    this.ids.add(r.from).add(r.to)
    const pair = r.from <= r.to ? { a: r.from, b: r.to } : { a: r.to, b: r.from }
    this.pairs.set(`${pair.a}\n${pair.b}`, Object.freeze(pair))
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

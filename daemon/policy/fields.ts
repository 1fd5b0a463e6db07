/**
 * Field-level checks of a policy document: map keys, identities, port lists, expectations. Each
 * check reports its problems (line:col, what is wrong, what to write) and returns the value or
 * undefined. Pure.
 */
import { isAlias, isMap, isScalar, isSeq, type Node, type Pair, type YAMLMap } from 'yaml'
import { isLatchError } from '../base/errors.js'
import { nodeNameOf, parseSpiffeId, parseTrustDomain } from '../base/spiffe-id.js'
import { type PortSpec, parsePortSpec } from './ports.js'
import { type Expectation, NODE_SOURCE } from './types.js'
import { closest, describeNode, keyText, type Problems } from './yaml-source.js'

export const POLICY_VERSION = 1
const EXAMPLE_ID = 'spiffe://example.org/ns/shop/sa/web'

/** The keys a map must have and may have. */
export interface Fields {
  readonly required: readonly string[]
  readonly optional: readonly string[]
}

export type Entry = Pair<Node, Node | null>
type Entries = Map<string, Entry>

export class FieldChecker {
  readonly #problems: Problems
  #trustDomain: string | undefined

  constructor(problems: Problems) {
    this.#problems = problems
  }

  /** Check a map's keys; return its entries by key (only known keys). */
  entries(
    node: Node | null,
    path: string,
    what: string,
    fields: Fields,
    example: string,
  ): Entries | undefined {
    if (isAlias(node)) {
      this.#problems.at(node, path, `aliases (*name) are not supported in policy files; write ${what} out`)
      return undefined
    }
    if (!isMap(node)) {
      this.#problems.at(node, path, `${what} must be a map like ${example}, found ${describeNode(node)}`)
      return undefined
    }
    const known = [...fields.required, ...fields.optional]
    const out: Entries = new Map()
    for (const pair of (node as YAMLMap<Node, Node | null>).items) {
      const key = keyText(pair.key)
      if (key === undefined) {
        this.#problems.at(
          pair.key,
          path,
          `${what} has a key that is not plain text; keys are ${known.join(', ')}`,
        )
      } else if (!known.includes(key)) {
        const hint = closest(key, known)
        const fix = hint ? `did you mean ${hint}?` : `the keys are ${known.join(', ')}`
        this.#problems.at(
          pair.key,
          `${path}${path ? '.' : ''}${key}`,
          `unknown key "${key}" in ${what}; ${fix}`,
        )
      } else {
        out.set(key, pair as Entry)
      }
    }
    const missing = fields.required.filter((k) => !out.has(k))
    for (const key of missing) {
      this.#problems.at(node, path, `${what} is missing "${key}"; ${missingHint(key)}`)
    }
    return out
  }

  /** A value that must be plain text; undefined (with a problem reported) otherwise. */
  text(pair: Entry | undefined, path: string, needs: string): string | undefined {
    if (pair === undefined) return undefined
    const value = pair.value
    if (isAlias(value)) {
      this.#problems.at(value, path, `aliases (*name) are not supported in policy files; write ${needs} out`)
      return undefined
    }
    if (!isScalar(value) || value.value === null) {
      const where = isScalar(value) || value === null ? pair.key : value
      this.#problems.at(where, path, `${path} must be ${needs}, found ${describeNode(value)}`)
      return undefined
    }
    if (typeof value.value !== 'string') {
      this.#problems.at(value, path, `${path} must be ${needs}, found ${describeNode(value)}`)
      return undefined
    }
    return value.value
  }

  version(pair: Entry | undefined): void {
    if (pair === undefined) return
    const v = pair.value
    if (!isScalar(v) || v.value !== POLICY_VERSION) {
      const found = isScalar(v) && typeof v.value === 'string' ? `the text "${v.value}"` : describeNode(v)
      this.#problems.at(
        v ?? pair.key,
        'version',
        `version must be the number ${POLICY_VERSION}, found ${found}`,
      )
    }
  }

  trustDomain(pair: Entry | undefined): void {
    const td = this.text(pair, 'trustDomain', 'a trust domain name such as example.org')
    if (td === undefined) return
    try {
      this.#trustDomain = parseTrustDomain(td)
    } catch (err) {
      const rule = isLatchError(err) ? String(err.details.rule) : 'it is invalid'
      this.#problems.at(
        pair!.value,
        'trustDomain',
        `trustDomain "${td}" is not a valid trust domain: ${rule}`,
      )
    }
  }

  /** A workload SPIFFE ID of this policy's trust domain. */
  /** A SPIFFE ID; with `node` (rule and test sources), also the keyword NODE_SOURCE. */
  identity(pair: Entry | undefined, path: string, options: { node?: boolean } = {}): string | undefined {
    const raw = this.text(pair, path, `a SPIFFE ID such as ${EXAMPLE_ID}`)
    if (raw === undefined) return undefined
    const at = pair!.value
    if (raw === NODE_SOURCE) {
      if (options.node) return raw
      this.#problems.at(
        at,
        path,
        `"${NODE_SOURCE}" (the node's own traffic) can only be a source (from:); traffic to the node itself is not mesh traffic and is not enforced`,
      )
      return undefined
    }
    if (raw.includes('*')) {
      this.#problems.at(
        at,
        path,
        `"${raw}": wildcards are not supported; name each identity exactly (one rule per pair) so that a policy change says precisely which authenticated pairs to remove`,
      )
      return undefined
    }
    let id: ReturnType<typeof parseSpiffeId>
    try {
      id = parseSpiffeId(raw, { requirePath: true })
    } catch (err) {
      const rule = isLatchError(err) ? String(err.details.rule) : 'it is invalid'
      this.#problems.at(at, path, `"${raw}" is not a valid SPIFFE ID: ${rule}; write e.g. ${EXAMPLE_ID}`)
      return undefined
    }
    if (nodeNameOf(id) !== undefined) {
      this.#problems.at(
        at,
        path,
        `"${raw}" is a node identity; policy allows pairs of workload identities (write from: ${NODE_SOURCE} for the node's own traffic to its workloads)`,
      )
      return undefined
    }
    if (this.#trustDomain !== undefined && id.trustDomain !== this.#trustDomain) {
      this.#problems.at(
        at,
        path,
        `"${raw}" is in trust domain "${id.trustDomain}", not this policy's trustDomain "${this.#trustDomain}"; federation is not supported, use IDs of ${this.#trustDomain}`,
      )
      return undefined
    }
    return id.toString()
  }

  /** A list of port specs; undefined (any protocol) when the key is absent. */
  ports(pair: Entry | undefined, path: string): PortSpec[] | undefined | null {
    if (pair === undefined) return undefined
    const node = pair.value
    if (!isSeq(node)) {
      this.#problems.at(
        node ?? pair.key,
        path,
        `${path} must be a list such as [tcp/5432, udp/53], found ${describeNode(node)}; leave ports out to allow any protocol`,
      )
      return null
    }
    if (node.items.length === 0) {
      this.#problems.at(
        node,
        path,
        `${path} is an empty list, which would allow nothing; leave ports out to allow any protocol, or delete the rule`,
      )
      return null
    }
    const specs: PortSpec[] = []
    const seen = new Map<string, number>()
    let ok = true
    node.items.forEach((item, i) => {
      const at = `${path}[${i}]`
      if (!isScalar(item) || typeof item.value !== 'string') {
        const hint =
          isScalar(item) && typeof item.value === 'number'
            ? `; write tcp/${item.value} or udp/${item.value}`
            : ''
        this.#problems.at(
          item,
          at,
          `${at} must be a port spec such as tcp/5432, found ${describeNode(item as Node)}${hint}`,
        )
        ok = false
        return
      }
      const parsed = parsePortSpec(item.value)
      if (!parsed.ok) {
        this.#problems.at(item, at, parsed.problem)
        ok = false
        return
      }
      const first = seen.get(parsed.spec.text)
      if (first !== undefined) {
        this.#problems.at(
          item,
          at,
          `${parsed.spec.text} is listed twice in this rule (first at ${path}[${first}]); delete one`,
        )
        ok = false
        return
      }
      seen.set(parsed.spec.text, i)
      specs.push(parsed.spec)
    })
    return ok ? specs : null
  }

  expectation(pair: Entry | undefined, path: string): Expectation | undefined {
    const raw = this.text(pair, path, 'allow or deny')
    if (raw === undefined) return undefined
    if (raw === 'allow' || raw === 'deny') return raw
    this.#problems.at(pair!.value, path, `${path} must be allow or deny, not "${raw}"`)
    return undefined
  }

  testPort(pair: Entry | undefined, path: string): PortSpec | undefined | null {
    if (pair === undefined) return undefined
    const raw = this.text(pair, path, 'one port such as tcp/5432, udp/53 or icmp')
    if (raw === undefined) return null
    const parsed = parsePortSpec(raw, { single: true })
    if (!parsed.ok) {
      this.#problems.at(pair.value, path, parsed.problem)
      return null
    }
    return parsed.spec
  }

  /** A list that may be empty; null/absent handled by the caller. */
  list(pair: Entry, path: string, example: string): readonly (Node | null)[] | undefined {
    const node = pair.value
    if (isSeq(node)) return node.items as (Node | null)[]
    const empty = isScalar(node) && node.value === null
    const hint = empty ? `; write ${path}: [] for an empty list` : ''
    this.#problems.at(
      empty ? pair.key : node,
      path,
      `${path} must be a list of entries like ${example}, found ${describeNode(node)}${hint}`,
    )
    return undefined
  }

  get problems(): Problems {
    return this.#problems
  }

  get trustDomainName(): string | undefined {
    return this.#trustDomain
  }
}

function missingHint(key: string): string {
  switch (key) {
    case 'version':
      return `add version: ${POLICY_VERSION}`
    case 'trustDomain':
      return 'add trustDomain: <your trust domain>, e.g. trustDomain: example.org'
    case 'allow':
      return 'add allow: with the allowed pairs, or allow: [] to deny everything'
    case 'from':
    case 'to':
      return `add ${key}: <SPIFFE ID>, e.g. ${key}: ${EXAMPLE_ID}`
    case 'expect':
      return 'add expect: allow or expect: deny'
    default:
      return `add ${key}:`
  }
}

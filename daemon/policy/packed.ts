/**
 * Validated rules in typed arrays and two small tables: what the compile worker (compile-worker.ts)
 * sends back to latchd's thread. A structured clone of 100k rule objects costs the receiving thread
 * seconds in one turn; typed arrays are transferred (no copy) and the rules are rebuilt on the
 * receiving side a chunk at a time (`unpackRules`). Each identity string and each distinct port
 * list exists once, shared by every rule that names it. Pure.
 */
import type { TransferListItem } from 'node:worker_threads'
import type { PortSpec } from './ports.js'
import type { IdentityPair, PolicyRule } from './types.js'

export interface PackedRules {
  /** Every `from`/`to` string once (identities and NODE_SOURCE). */
  readonly strings: readonly string[]
  /** Every distinct `ports:` list once. */
  readonly portLists: readonly (readonly PortSpec[])[]
  /** Per rule: index into `strings` … */
  readonly from: Int32Array
  readonly to: Int32Array
  /** … index into `portLists`, or -1: no `ports:` (any). */
  readonly ports: Int32Array
  readonly line: Int32Array
  readonly col: Int32Array
}

/** The interning of a packing: a string's or port list's index, assigned on first sight. */
class Interner<K> {
  readonly items: K[] = []
  readonly #index = new Map<string, number>()
  of(key: string, item: K): number {
    let i = this.#index.get(key)
    if (i === undefined) {
      i = this.items.length
      this.items.push(item)
      this.#index.set(key, i)
    }
    return i
  }
}

export function packRules(rules: readonly PolicyRule[]): PackedRules {
  const n = rules.length
  const strings = new Interner<string>()
  const lists = new Interner<readonly PortSpec[]>()
  const p = {
    from: new Int32Array(n),
    to: new Int32Array(n),
    ports: new Int32Array(n),
    line: new Int32Array(n),
    col: new Int32Array(n),
  }
  rules.forEach((r, i) => {
    p.from[i] = strings.of(r.from, r.from)
    p.to[i] = strings.of(r.to, r.to)
    p.ports[i] = r.ports === undefined ? -1 : lists.of(r.ports.map((s) => s.text).join(','), r.ports)
    p.line[i] = r.pos.line
    p.col[i] = r.pos.col
  })
  return { strings: strings.items, portLists: lists.items, ...p }
}

/** The buffers to transfer with a packing and `more` arrays (postMessage's transfer list). */
export function packedBuffers(p: PackedRules, ...more: Int32Array[]): TransferListItem[] {
  return [p.from, p.to, p.ports, p.line, p.col, ...more].map((a) => a.buffer as ArrayBuffer)
}

export function packedCount(p: PackedRules): number {
  return p.from.length
}

/** Rules [start, end) of a packing, appended to `out` (frozen, as validate.ts makes them). */
export function unpackRules(p: PackedRules, start: number, end: number, out: PolicyRule[]): void {
  for (let i = start; i < end; i++) {
    const list = p.ports[i]!
    out.push(
      Object.freeze({
        from: p.strings[p.from[i]!]!,
        to: p.strings[p.to[i]!]!,
        ports: list < 0 ? undefined : p.portLists[list],
        pos: Object.freeze({ line: p.line[i]!, col: p.col[i]! }),
      }),
    )
  }
}

/** Identity pairs as index pairs into a packing's strings ([a0, b0, a1, b1, …]). */
export function packPairs(p: PackedRules, pairs: readonly IdentityPair[]): Int32Array {
  const index = new Map(p.strings.map((s, i) => [s, i]))
  const out = new Int32Array(pairs.length * 2)
  pairs.forEach((pair, i) => {
    out[2 * i] = index.get(pair.a)!
    out[2 * i + 1] = index.get(pair.b)!
  })
  return out
}

/** Pairs [start, end) of `packPairs`'s output, appended to `out`. */
export function unpackPairs(
  p: PackedRules,
  packed: Int32Array,
  start: number,
  end: number,
  out: IdentityPair[],
): void {
  for (let i = start; i < end; i++) {
    out.push(Object.freeze({ a: p.strings[packed[2 * i]!]!, b: p.strings[packed[2 * i + 1]!]! }))
  }
}

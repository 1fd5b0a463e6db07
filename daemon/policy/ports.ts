/**
 * Port specs of policy files and the compiled port sets `allows()` looks up.
 *
 * Syntax of one entry of a rule's `ports:` list:
 *   tcp | udp | sctp             every port of that protocol
 *   tcp/5432                     one port (1-65535)
 *   tcp/8000-8080                an inclusive range (low <= high)
 *   icmp | icmpv6                the whole protocol (ICMP has no ports)
 * Protocols are lowercase. A rule without `ports:` allows every protocol, including ones that have
 * no name here (GRE, …). Pure: no I/O.
 */

/** The protocols a port spec can name, with their IANA protocol numbers. */
export const PROTOCOLS = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 } as const
export type ProtocolName = keyof typeof PROTOCOLS
/** A protocol as callers give it: a name above or an IANA protocol number (what the datapath sees). */
export type Protocol = ProtocolName | number

/** Merged ranges one rule may hold (LATCH_POLICY_MAX_RANGES of the datapath; a test checks they agree). */
export const MAX_PORT_RANGES = 16

const PORTED: ReadonlySet<string> = new Set(['tcp', 'udp', 'sctp'])
const NAMES = Object.keys(PROTOCOLS) as ProtocolName[]

/** One parsed port spec. `low`/`high` are 0/65535 when the spec names the whole protocol. */
export interface PortSpec {
  readonly protocol: ProtocolName
  readonly low: number
  readonly high: number
  /** The canonical text, e.g. "tcp/8000-8080", "udp", "icmp". */
  readonly text: string
}

export type PortParse = { ok: true; spec: PortSpec } | { ok: false; problem: string }

const PORT_DIGITS = /^[0-9]{1,5}$/

function fail(problem: string): PortParse {
  return { ok: false, problem }
}

function parsePort(text: string, input: string): number | string {
  if (!PORT_DIGITS.test(text)) return `"${input}": "${text}" is not a port number (1-65535)`
  const n = Number(text)
  if (n < 1 || n > 65535) return `"${input}": port ${n} is out of range; ports are 1-65535`
  return n
}

/**
 * Parse one entry of `ports:`. `single` (used by `tests:`) refuses ranges and bare port protocols,
 * because a test checks one concrete port.
 */
export function parsePortSpec(input: string, options: { single?: boolean } = {}): PortParse {
  const example = options.single ? 'tcp/5432, udp/53 or icmp' : 'tcp/5432, udp/53, tcp/8000-8080 or icmp'
  const trimmed = input.trim()
  if (trimmed === '') return fail(`a port spec is empty; write e.g. ${example}`)
  if (trimmed !== input) return fail(`"${input}" has surrounding spaces; write it as "${trimmed}"`)
  const swapped = /^([0-9][0-9-]*)\/([a-zA-Z0-9]+)$/.exec(input)
  if (swapped) return fail(`"${input}" puts the port first; write ${swapped[2]!.toLowerCase()}/${swapped[1]}`)
  const slash = input.indexOf('/')
  const protoText = slash === -1 ? input : input.slice(0, slash)
  const rest = slash === -1 ? undefined : input.slice(slash + 1)
  if (protoText !== protoText.toLowerCase() && protoText.toLowerCase() in PROTOCOLS) {
    return fail(`"${input}": write the protocol in lowercase (${input.toLowerCase()})`)
  }
  if (!(protoText in PROTOCOLS)) {
    if (protoText === 'any' || protoText === '*') {
      return fail(`"${input}": to allow every protocol and port, leave out ports: altogether`)
    }
    return fail(
      `"${input}": unknown protocol "${protoText}"; use one of ${NAMES.join(', ')} (e.g. ${example})`,
    )
  }
  const protocol = protoText as ProtocolName
  if (!PORTED.has(protocol)) {
    if (rest !== undefined) return fail(`"${input}": ${protocol} has no ports; write just ${protocol}`)
    return { ok: true, spec: { protocol, low: 0, high: 65535, text: protocol } }
  }
  if (rest === undefined) {
    if (options.single) return fail(`"${input}": a test checks one port; write e.g. ${protocol}/443`)
    return { ok: true, spec: { protocol, low: 0, high: 65535, text: protocol } }
  }
  const dash = rest.indexOf('-')
  if (dash !== -1 && options.single) {
    return fail(
      `"${input}": a test checks one port, not a range; write e.g. ${protocol}/${rest.slice(0, dash)}`,
    )
  }
  const low = parsePort(dash === -1 ? rest : rest.slice(0, dash), input)
  if (typeof low === 'string') return fail(low)
  if (dash === -1) return { ok: true, spec: { protocol, low, high: low, text: `${protocol}/${low}` } }
  const high = parsePort(rest.slice(dash + 1), input)
  if (typeof high === 'string') return fail(high)
  if (high < low) return fail(`"${input}": the range ends before it starts; write ${protocol}/${high}-${low}`)
  const text = low === high ? `${protocol}/${low}` : `${protocol}/${low}-${high}`
  return { ok: true, spec: { protocol, low, high, text } }
}

/** Index of a protocol in PortSet's tables, or -1 for a protocol no port spec can name. */
export function protocolIndex(proto: Protocol): number {
  switch (proto) {
    case 'tcp':
    case 6:
      return 0
    case 'udp':
    case 17:
      return 1
    case 'sctp':
    case 132:
      return 2
    case 'icmp':
    case 1:
      return 3
    case 'icmpv6':
    case 58:
      return 4
    default:
      return -1
  }
}

const EMPTY = new Uint16Array(0)

/**
 * What one rule allows: everything (no `ports:`), or per protocol a sorted list of disjoint,
 * non-adjacent inclusive ranges stored flat as [low0, high0, low1, high1, …]. Lookups allocate nothing.
 */
export class PortSet {
  /** True when the rule has no `ports:` and so allows every protocol and port. */
  readonly any: boolean
  readonly #ranges: readonly Uint16Array[]

  private constructor(any: boolean, ranges: readonly Uint16Array[]) {
    this.any = any
    this.#ranges = ranges
    Object.freeze(this)
  }

  static readonly ANY = new PortSet(
    true,
    NAMES.map(() => EMPTY),
  )

  static of(specs: readonly PortSpec[]): PortSet {
    const ranges = NAMES.map((name) => mergeRanges(specs.filter((s) => s.protocol === name)))
    return new PortSet(false, ranges)
  }

  /**
   * Does this set allow `proto` (and `port`)? With `proto` omitted: does it allow anything at all.
   * With `port` omitted: does it allow at least one port of `proto`. ICMP ignores `port`.
   */
  has(proto?: Protocol, port?: number): boolean {
    if (this.any) return true
    if (proto === undefined) return true // a PortSet is never built empty
    const idx = protocolIndex(proto)
    if (idx === -1) return false
    const r = this.#ranges[idx]!
    if (r.length === 0) return false
    if (port === undefined || idx >= 3) return true
    let lo = 0
    let hi = r.length / 2 - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (port < r[mid * 2]!) hi = mid - 1
      else if (port > r[mid * 2 + 1]!) lo = mid + 1
      else return true
    }
    return false
  }

  /** The canonical spec texts, merged and sorted (e.g. ["tcp/80", "tcp/8000-8080", "icmp"]); [] for ANY. */
  describe(): string[] {
    if (this.any) return []
    const out: string[] = []
    NAMES.forEach((name, idx) => {
      const r = this.#ranges[idx]!
      for (let i = 0; i < r.length; i += 2) {
        const low = r[i]!
        const high = r[i + 1]!
        if (low === 0 && high === 65535) out.push(name)
        else out.push(low === high ? `${name}/${low}` : `${name}/${low}-${high}`)
      }
    })
    return out
  }
}

function mergeRanges(specs: readonly PortSpec[]): Uint16Array {
  const sorted = specs.map((s) => [s.low, s.high] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const merged: number[] = []
  for (const [low, high] of sorted) {
    const last = merged.length - 1
    if (last > 0 && low <= merged[last]! + 1) merged[last] = Math.max(merged[last]!, high)
    else merged.push(low, high)
  }
  return Uint16Array.from(merged)
}

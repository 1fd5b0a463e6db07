/**
 * Name constraints as path validation evaluates them (RFC 5280 §4.2.1.10, §6.1.3(b)(c), §6.1.4(g)),
 * on the raw DER so nothing malformed is smoothed over:
 *
 * - syntax: an IP constraint is 8 or 32 octets with a contiguous mask; DNS, URI and e-mail constraints
 *   are host names (optionally with a leading "."); minimum/maximum are not used (RFC 5280: MUST be
 *   0/absent; OpenSSL refuses them too); an extension without subtrees is malformed;
 * - matching follows OpenSSL's rules type by type (v3_ncons.c): a constraint applies only to names of
 *   its own type (otherName: of its own type-id), so a directoryName or otherName constraint never
 *   refuses a leaf that has no such name; types latch cannot evaluate fail closed when they do apply;
 * - work is bounded: (names checked × constraints) over a whole path is capped.
 *
 * Pure. Errors are thrown as ConstraintError with the reason verify() reports.
 */
import { children, readOne, TAG } from './der.js'
import { type Attribute, type GeneralName, generalName, isHostname, rdnsOf } from './general-names.js'

export class ConstraintError extends Error {
  constructor(
    readonly reason: 'malformed_name_constraints' | 'name_constraints_too_complex',
    message: string,
  ) {
    super(message)
  }
}

export interface StrictConstraints {
  readonly permitted: readonly GeneralName[]
  readonly excluded: readonly GeneralName[]
}

/** The most (names × constraints) comparisons one path may cost. Go's crypto/x509 caps at 250 000. */
export const MAX_CONSTRAINT_CHECKS = 65_536

function contiguous(mask: Buffer): boolean {
  let zero = false
  for (const b of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (b >> bit) & 1
      if (one && zero) return false
      if (!one) zero = true
    }
  }
  return true
}

function hostConstraint(text: string): boolean {
  const host = text.startsWith('.') ? text.slice(1) : text
  return isHostname(host) && !/^[0-9.]+$/.test(host)
}

function checkSyntax(n: GeneralName): void {
  const text = n.value.toString('latin1')
  const bad = (why: string) => new ConstraintError('malformed_name_constraints', why)
  switch (n.type) {
    case 'ip':
      if (n.value.length !== 8 && n.value.length !== 32) {
        throw bad(`an iPAddress constraint has ${n.value.length} octets (IPv4 needs 8, IPv6 32)`)
      }
      if (!contiguous(n.value.subarray(n.value.length / 2))) {
        throw bad('an iPAddress constraint has a non-contiguous mask')
      }
      return
    case 'dns':
      if (text !== '' && !hostConstraint(text)) throw bad(`the dNSName constraint "${text}" is not a domain`)
      return
    case 'uri':
      if (!hostConstraint(text)) throw bad(`the URI constraint "${text}" is not a host or .domain`)
      return
    case 'rfc822': {
      const at = text.lastIndexOf('@')
      const host = at === -1 ? text : text.slice(at + 1)
      if (at === 0 || !hostConstraint(host)) throw bad(`the rfc822Name constraint "${text}" is malformed`)
      return
    }
    case 'dirName':
      rdnsOf(n.value)
      return
    default:
      return
  }
}

function subtrees(t: ReturnType<typeof readOne>): GeneralName[] {
  const items = children(t)
  if (items.length === 0) throw new ConstraintError('malformed_name_constraints', 'an empty list of subtrees')
  return items.map((subtree) => {
    if (subtree.tag !== TAG.sequence) throw new Error('GeneralSubtree: not a SEQUENCE')
    const [base, ...rest] = children(subtree)
    if (base === undefined) throw new Error('GeneralSubtree: no base')
    if (rest.length > 0) {
      throw new ConstraintError(
        'malformed_name_constraints',
        'a subtree has minimum/maximum, which RFC 5280 profiles out (OpenSSL refuses them too)',
      )
    }
    const name = generalName(base)
    checkSyntax(name)
    return name
  })
}

/** Parse and check the syntax of a nameConstraints extension value. */
export function parseStrictConstraints(value: Buffer): StrictConstraints {
  let permitted: GeneralName[] = []
  let excluded: GeneralName[] = []
  try {
    const seq = readOne(value)
    if (seq.tag !== TAG.sequence) throw new Error('NameConstraints: not a SEQUENCE')
    for (const part of children(seq)) {
      if (part.context === 0) permitted = subtrees(part)
      else if (part.context === 1) excluded = subtrees(part)
      else throw new Error('NameConstraints: unexpected field')
    }
  } catch (err) {
    if (err instanceof ConstraintError) throw err
    throw new ConstraintError('malformed_name_constraints', (err as Error).message)
  }
  if (permitted.length === 0 && excluded.length === 0) {
    throw new ConstraintError(
      'malformed_name_constraints',
      'the extension has neither permitted nor excluded subtrees',
    )
  }
  return { permitted, excluded }
}

type Match = boolean | 'unsupported'

function dnsMatch(name: string, base: string): boolean {
  if (base === '') return true
  const n = name.toLowerCase()
  const b = base.toLowerCase()
  if (n.length < b.length) return false
  if (n.length > b.length && !b.startsWith('.') && n[n.length - b.length - 1] !== '.') return false
  return n.endsWith(b)
}

function hostMatch(host: string, base: string): boolean {
  const h = host.toLowerCase()
  const b = base.toLowerCase()
  return b.startsWith('.') ? h.length > b.length && h.endsWith(b) : h === b
}

/** The host of a URI ("spiffe://td/x" → "td"), or undefined if it has no authority. */
export function uriHostOf(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri)
  if (m === null) return undefined
  const authority = (m[1] ?? '').replace(/^.*@/, '')
  const host = authority.startsWith('[')
    ? authority.slice(0, authority.indexOf(']') + 1)
    : authority.replace(/:\d*$/, '')
  return host === '' ? undefined : host
}

function emailMatch(email: string, base: string): boolean {
  const at = email.lastIndexOf('@')
  if (at <= 0) return false
  if (base.includes('@')) {
    const bat = base.lastIndexOf('@')
    return (
      email.slice(0, at) === base.slice(0, bat) &&
      email.slice(at + 1).toLowerCase() === base.slice(bat + 1).toLowerCase()
    )
  }
  return hostMatch(email.slice(at + 1), base)
}

function ipMatch(ip: Buffer, base: Buffer): boolean {
  if (base.length !== ip.length * 2) return false
  for (let i = 0; i < ip.length; i++) {
    const mask = base[ip.length + i] as number
    if (((ip[i] as number) & mask) !== ((base[i] as number) & mask)) return false
  }
  return true
}

const sameAttr = (a: Attribute, b: Attribute) => a.oid === b.oid && a.canonical === b.canonical

function dirMatch(name: Buffer, base: Buffer): boolean {
  const n = rdnsOf(name)
  const b = rdnsOf(base)
  if (b.length > n.length) return false
  return b.every((rdn, i) => {
    const other = n[i] as Attribute[]
    return rdn.length === other.length && rdn.every((a) => other.some((o) => sameAttr(a, o)))
  })
}

function matches(name: GeneralName, base: GeneralName): Match {
  const text = name.value.toString('latin1')
  const baseText = base.value.toString('latin1')
  switch (name.type) {
    case 'dns':
      return dnsMatch(text, baseText)
    case 'uri': {
      const host = uriHostOf(text)
      return host === undefined ? 'unsupported' : hostMatch(host, baseText)
    }
    case 'rfc822':
      return emailMatch(name.value.toString('utf8'), baseText)
    case 'ip':
      return ipMatch(name.value, base.value)
    case 'dirName':
      return dirMatch(name.value, base.value)
    default:
      return 'unsupported'
  }
}

const applies = (name: GeneralName, base: GeneralName) =>
  name.type === base.type && (name.type !== 'otherName' || name.typeId === base.typeId)

function describe(n: GeneralName): string {
  switch (n.type) {
    case 'ip':
      return `IP ${n.value.length === 4 ? [...n.value].join('.') : n.value.toString('hex')}`
    case 'dirName':
      return `directoryName ${rdnsOf(n.value)
        .map((r) => r.map((a) => a.text).join('+'))
        .join(',')}`
    case 'otherName':
      return `otherName ${n.typeId}`
    default:
      return `${n.type} ${n.value.toString('latin1')}`
  }
}

/** Why `names` violate `nc`, or undefined when they satisfy it. Each comparison is charged to `budget`. */
export function strictViolation(
  names: readonly GeneralName[],
  nc: StrictConstraints,
  budget: { left: number },
): string | undefined {
  budget.left -= names.length * (nc.permitted.length + nc.excluded.length)
  if (budget.left < 0) {
    throw new ConstraintError(
      'name_constraints_too_complex',
      `checking the names against the name constraints would take more than ${MAX_CONSTRAINT_CHECKS} comparisons`,
    )
  }
  for (const name of names) {
    if (name.type === 'ip' && name.value.length !== 4 && name.value.length !== 16) {
      return `an iPAddress name has ${name.value.length} octets`
    }
    const permitted = nc.permitted.filter((b) => applies(name, b))
    if (permitted.length > 0) {
      const results = permitted.map((b) => matches(name, b))
      if (results.includes('unsupported'))
        return `${describe(name)} cannot be checked against its constraints`
      if (!results.includes(true)) return `${describe(name)} is outside the permitted subtrees`
    }
    for (const b of nc.excluded.filter((x) => applies(name, x))) {
      const m = matches(name, b)
      if (m === 'unsupported') return `${describe(name)} cannot be checked against its constraints`
      if (m) return `${describe(name)} is inside an excluded subtree`
    }
  }
  return undefined
}

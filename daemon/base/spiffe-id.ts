/**
 * SPIFFE IDs, validated per the SPIFFE ID specification (spiffe/standards SPIFFE-ID.md §2):
 *   spiffe://<trust-domain><path>
 * - scheme exactly "spiffe" (lowercase), then "://"
 * - trust domain: 1-255 characters of a-z 0-9 . - _ (lowercase only; no port, no userinfo)
 * - path: zero or more "/segment"; a segment is one or more of a-z A-Z 0-9 . - _ and is never "." or "..";
 *   no trailing "/", no empty segment
 * - no query, no fragment, at most 2048 bytes in all
 * Pure: no I/O. Every rejection is LATCH_ERR_SPIFFE_MALFORMED with the rule that was broken.
 */
import { LatchError } from './errors.js'

const MAX_ID_LENGTH = 2048
const MAX_TRUST_DOMAIN_LENGTH = 255
const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/
const SEGMENT_CHARS = /^[a-zA-Z0-9._-]+$/
const PREFIX = 'spiffe://'

export class SpiffeId {
  readonly trustDomain: string
  /** The path including its leading "/", or "" for a trust-domain ID. */
  readonly path: string

  constructor(trustDomain: string, path: string) {
    this.trustDomain = trustDomain
    this.path = path
    Object.freeze(this)
  }

  /** The path's segments, e.g. ["ns", "shop", "sa", "web"]. */
  get segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/')
  }

  toString(): string {
    return `${PREFIX}${this.trustDomain}${this.path}`
  }

  equals(other: SpiffeId): boolean {
    return this.trustDomain === other.trustDomain && this.path === other.path
  }
}

function malformed(input: string, rule: string): LatchError {
  return new LatchError('LATCH_ERR_SPIFFE_MALFORMED', `"${input}" is not a valid SPIFFE ID: ${rule}`, {
    details: { input, rule },
  })
}

/** Validate a trust domain name on its own (e.g. a --trust-domain flag). */
export function parseTrustDomain(input: string): string {
  if (input.length === 0) throw malformed(input, 'the trust domain is empty')
  if (input.length > MAX_TRUST_DOMAIN_LENGTH) {
    throw malformed(input, `the trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} characters`)
  }
  if (input.includes(':')) throw malformed(input, 'a trust domain has no port or user info (":")')
  if (!TRUST_DOMAIN_CHARS.test(input)) {
    throw malformed(input, 'a trust domain has only lowercase letters, digits, ".", "-" and "_"')
  }
  return input
}

export interface ParseOptions {
  /** Refuse IDs without a path (trust-domain IDs); workload and node IDs always have one. */
  requirePath?: boolean
}

export function parseSpiffeId(input: string, options: ParseOptions = {}): SpiffeId {
  if (typeof input !== 'string' || input.length === 0) throw malformed(String(input), 'it is empty')
  if (Buffer.byteLength(input) > MAX_ID_LENGTH) {
    throw malformed(input, `it is longer than ${MAX_ID_LENGTH} bytes`)
  }
  if (!input.startsWith(PREFIX)) {
    if (input.toLowerCase().startsWith(PREFIX))
      throw malformed(input, 'the scheme must be lowercase "spiffe"')
    throw malformed(input, 'it must start with "spiffe://"')
  }
  if (input.includes('?')) throw malformed(input, 'a SPIFFE ID has no query ("?")')
  if (input.includes('#')) throw malformed(input, 'a SPIFFE ID has no fragment ("#")')
  const rest = input.slice(PREFIX.length)
  const slash = rest.indexOf('/')
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? '' : rest.slice(slash)
  if (trustDomain.length === 0) throw malformed(input, 'the trust domain is empty')
  if (trustDomain.includes('@')) throw malformed(input, 'a trust domain has no user info ("@")')
  parseTrustDomainIn(input, trustDomain)
  if (path !== '') {
    if (path.endsWith('/')) throw malformed(input, 'the path must not end with "/"')
    for (const segment of path.slice(1).split('/')) {
      if (segment.length === 0) throw malformed(input, 'the path has an empty segment ("//")')
      if (segment === '.' || segment === '..') {
        throw malformed(input, `the path has a "${segment}" segment`)
      }
      if (!SEGMENT_CHARS.test(segment)) {
        throw malformed(input, `path segment "${segment}" has a character other than a-z A-Z 0-9 . - _`)
      }
    }
  } else if (options.requirePath) {
    throw malformed(input, 'it has no path; a workload or node ID looks like spiffe://td/ns/NS/sa/NAME')
  }
  return new SpiffeId(trustDomain, path)
}

function parseTrustDomainIn(input: string, trustDomain: string): void {
  try {
    parseTrustDomain(trustDomain)
  } catch (err) {
    const rule = err instanceof LatchError ? String(err.details.rule) : 'the trust domain is invalid'
    throw malformed(input, rule)
  }
}

/** The SPIFFE ID latch gives a node: spiffe://<td>/latch/node/<node>. */
export function nodeSpiffeId(trustDomain: string, node: string): SpiffeId {
  return parseSpiffeId(`${PREFIX}${trustDomain}/latch/node/${node}`)
}

/** The node name if `id` is a latch node ID, otherwise undefined. */
export function nodeNameOf(id: SpiffeId): string | undefined {
  const s = id.segments
  return s.length === 3 && s[0] === 'latch' && s[1] === 'node' ? s[2] : undefined
}

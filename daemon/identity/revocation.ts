/**
 * The revocation list: a YAML file the operator distributes to every node like the policy file
 * (config `pki.revocationFile`), hot-reloaded by latchd. Pure: text → frozen RevocationList.
 *
 * ```yaml
 * version: 1
 * trustDomain: example.org
 * revoked:
 *   - node: node3                                   # the node's certificate (spiffe://TD/latch/node/node3)
 *   - spiffeId: spiffe://example.org/ns/shop/sa/web # a workload (every SVID it holds) or a node ID
 *   - serial: 5f:3a:09:…                            # one certificate on any path: node cert, SVID, intermediate
 *     reason: key of node2's old intermediate leaked  # optional, shown in logs and refusals
 * ```
 *
 * Why not a signed CRL: latch's root key stays offline (it signs only at `ca init/rotate` and
 * `node issue`), so a CRL would need it online for every revocation; the list travels the same
 * authenticated channel as the policy and the config (configuration management, a ConfigMap), and a
 * node that gets a tampered list can only refuse more, never trust more.
 */

import { createHash } from 'node:crypto'
import { checkNodeName } from '../../certs/layout.js'
import { LatchError } from '../base/errors.js'
import { nodeSpiffeId, parseSpiffeId, parseTrustDomain } from '../base/spiffe-id.js'
import { parseYamlBounded, toJSBounded } from '../base/yaml-bounded.js'

export interface RevocationEntry {
  readonly kind: 'node' | 'spiffeId' | 'serial'
  readonly value: string
  readonly reason: string | undefined
}

export interface RevocationList {
  readonly trustDomain: string
  readonly entries: readonly RevocationEntry[]
  /** sha256 of the canonical entries, for status and logs. */
  readonly digest: string
  /** Why a certificate (serial, and the SPIFFE ID for a leaf) is revoked, or undefined. */
  revoked(cert: { serial: string; spiffeId: string | undefined }): string | undefined
  /** Why this SPIFFE ID (node or workload) is revoked as a whole, or undefined. */
  revokedId(spiffeId: string): string | undefined
}

/** Serial numbers compare as lower-case hex without separators or leading zeros. */
export function normalizeSerial(text: string): string {
  return text
    .replace(/[:\s]/g, '')
    .toLowerCase()
    .replace(/^0+(?=.)/, '')
}

const KEYS = new Set(['node', 'spiffeId', 'serial', 'reason'])

function invalid(file: string, problems: string[]): LatchError {
  return new LatchError('LATCH_ERR_REVOCATION_INVALID', `${file}: ${problems.join('; ')}`, {
    details: { file, problems },
  })
}

function compile(trustDomain: string, entries: RevocationEntry[]): RevocationList {
  const ids = new Map<string, string>()
  const serials = new Map<string, string>()
  for (const e of entries) {
    const why = e.reason ?? `revoked by ${e.kind} ${e.value}`
    if (e.kind === 'serial') serials.set(e.value, why)
    else ids.set(e.kind === 'node' ? nodeSpiffeId(trustDomain, e.value).toString() : e.value, why)
  }
  const canonical = entries
    .map((e) => `${e.kind}=${e.value}`)
    .sort()
    .join('\n')
  return Object.freeze({
    trustDomain,
    entries: Object.freeze([...entries]),
    digest: createHash('sha256').update(canonical).digest('hex').slice(0, 16),
    revoked: (c: { serial: string; spiffeId: string | undefined }) =>
      serials.get(normalizeSerial(c.serial)) ?? (c.spiffeId === undefined ? undefined : ids.get(c.spiffeId)),
    revokedId: (id: string) => ids.get(id),
  })
}

/** Parse a revocation list. Throws LATCH_ERR_REVOCATION_INVALID naming every problem. */
export function parseRevocations(text: string, file: string, trustDomain: string): RevocationList {
  const parsed = parseYamlBounded(text)
  if (parsed.limit) throw invalid(file, [parsed.limit.message])
  const doc = parsed.doc
  if (doc.errors.length > 0)
    throw invalid(
      file,
      doc.errors.map((e) => e.message.split('\n')[0] ?? 'YAML error'),
    )
  const js = toJSBounded(doc)
  if ('limit' in js) throw invalid(file, [js.limit.message])
  const root = js.value
  const problems: string[] = []
  if (root === null || typeof root !== 'object' || Array.isArray(root))
    throw invalid(file, ['expected a mapping'])
  const o = root as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!['version', 'trustDomain', 'revoked'].includes(k)) problems.push(`unknown key "${k}"`)
  }
  if (o.version !== 1) problems.push('version: must be 1')
  try {
    if (parseTrustDomain(String(o.trustDomain ?? '')) !== trustDomain) {
      problems.push(
        `trustDomain: "${String(o.trustDomain)}" is not this node's trust domain "${trustDomain}"`,
      )
    }
  } catch (err) {
    problems.push(`trustDomain: ${(err as Error).message}`)
  }
  const list = o.revoked ?? []
  if (!Array.isArray(list)) problems.push('revoked: must be a list')
  const entries: RevocationEntry[] = []
  for (const [i, item] of (Array.isArray(list) ? list : []).entries()) {
    const at = `revoked[${i}]`
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      problems.push(`${at}: expected {node|spiffeId|serial, reason?}`)
      continue
    }
    const e = item as Record<string, unknown>
    for (const k of Object.keys(e)) if (!KEYS.has(k)) problems.push(`${at}: unknown key "${k}"`)
    const kinds = (['node', 'spiffeId', 'serial'] as const).filter((k) => e[k] !== undefined)
    if (kinds.length !== 1) {
      problems.push(`${at}: give exactly one of node, spiffeId, serial`)
      continue
    }
    const kind = kinds[0] as RevocationEntry['kind']
    const raw = String(e[kind])
    const reason = e.reason === undefined ? undefined : String(e.reason)
    if (kind === 'node') {
      try {
        checkNodeName(raw)
        entries.push({ kind, value: raw, reason })
      } catch (err) {
        problems.push(`${at}.node: ${(err as Error).message}`)
      }
    } else if (kind === 'spiffeId') {
      try {
        const id = parseSpiffeId(raw, { requirePath: true })
        if (id.trustDomain !== trustDomain)
          problems.push(`${at}.spiffeId: ${raw} is not in trust domain ${trustDomain}`)
        else entries.push({ kind, value: id.toString(), reason })
      } catch (err) {
        problems.push(`${at}.spiffeId: ${(err as Error).message}`)
      }
    } else {
      const serial = normalizeSerial(raw)
      if (!/^[0-9a-f]{1,40}$/.test(serial)) problems.push(`${at}.serial: "${raw}" is not a hex serial number`)
      else entries.push({ kind, value: serial, reason })
    }
  }
  if (problems.length > 0) throw invalid(file, problems)
  return compile(trustDomain, entries)
}

/** No list configured: nothing is revoked. */
export const NO_REVOCATIONS: RevocationList = compile('', [])

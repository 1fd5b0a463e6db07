/** The human form of the pair-auth part of `latchctl status` and of `latchctl identity list`. Pure. */

import type { PairAuthStatus, StatusReport } from '../wire/status.js'
import { table } from './text-table.js'

/** Local identities: SPIFFE ID, IPs, SVID expiry, next renewal, problem. */
export function formatIdentities(s: StatusReport): string {
  const ids = s.pairAuth?.identities
  if (ids === undefined) {
    if (s.workloads.length === 0) return 'no local workloads\n'
    const rows = [['IDENTITY', 'IPS']]
    for (const w of s.workloads) rows.push([w.id, w.ips.join(',')])
    return `${table(rows)}\n(no policy file: pair authentication is off, no SVIDs are presented)\n`
  }
  if (ids.length === 0) return 'no local workloads\n'
  const rows = [['IDENTITY', 'IPS', 'SVID', 'NOT AFTER', 'RENEW AT']]
  for (const i of ids) {
    rows.push([i.id, i.ips.join(','), i.source, i.notAfter ?? '-', i.renewAt ?? '-'])
  }
  const problems = ids.filter((i) => i.problem).map((i) => `  ${i.id}: ${i.problem}`)
  return `${table(rows)}\n${problems.length > 0 ? `${problems.join('\n')}\n` : ''}`
}

export function formatPairAuth(p: PairAuthStatus): string {
  const out: string[] = []
  out.push(
    `pair authentication: port ${p.port}, ttl ${p.ttlSeconds}s, policy ${p.policy.file} (${p.policy.allowedPairs} allowed pairs, digest ${p.policy.digest.slice(0, 12)})`,
  )
  const e = p.policy.error
  if (e) {
    out.push(`  policy file REJECTED (${e.code}); the running policy stays:`)
    for (const pr of e.problems ?? [])
      out.push(`    ${e.file ?? p.policy.file}:${pr.line}:${pr.col}: ${pr.message}`)
    if (!e.problems?.length) out.push(`    ${e.message}`)
  }
  if (p.pairs.length === 0) out.push('  no planned pairs (no allowed pair has both workloads known)')
  else {
    const rows = [['LOCAL', 'REMOTE', 'NODE', 'STATE', 'EXPIRES', 'LAST FAILURE']]
    for (const x of p.pairs) {
      const node = x.sameNode ? `${x.node} (same node)` : x.node
      rows.push([x.local, x.remote, node, x.state, x.expiresAt ?? '-', x.lastReason ?? '-'])
    }
    out.push(table(rows).replace(/^/gm, '  '))
  }
  out.push(
    `  auth entries: ${p.authEntries.length}${p.authEntriesError ? ` (unreadable: ${p.authEntriesError})` : ''}`,
  )
  const recent = p.recentFailures.slice(0, 10)
  if (recent.length > 0) {
    out.push('  recent refusals:')
    for (const f of recent) {
      out.push(
        `    ${f.at} ${f.local ?? '?'} ↔ ${f.remote ?? '?'} (${f.node ?? 'unknown node'}, ${f.role}): ${f.reason} by ${f.by}: ${f.message}`,
      )
    }
  }
  return out.join('\n')
}

/** `latchctl status`: the trust block — each credential's expiry, the revocation list, reloads. Pure. */
import type { StatusTrust } from '../wire/status.js'
import { table } from './text-table.js'

function left(seconds: number): string {
  if (seconds <= 0) return 'EXPIRED'
  if (seconds >= 2 * 86_400) return `${Math.floor(seconds / 86_400)}d`
  if (seconds >= 7200) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 60)}m`
}

export function formatTrust(t: StatusTrust): string {
  const rows = [
    ['credential', 'serial', 'expires', 'in', ''],
    ...t.credentials.map((c) => [
      c.kind,
      c.serial.length > 16 ? `${c.serial.slice(0, 16)}…` : c.serial,
      c.notAfter,
      left(c.expiresInSeconds),
      c.warning ?? '',
    ]),
  ]
  const out = [`trust (${t.credentials.filter((c) => c.kind === 'root').length} root(s) in the bundle):`]
  out.push(
    ...table(rows)
      .split('\n')
      .map((l) => `  ${l}`),
  )
  out.push(
    `  revocation list: ${t.revocations.file ?? 'none configured'}${t.revocations.file ? ` (${t.revocations.entries} entries, digest ${t.revocations.digest})` : ''}`,
  )
  out.push(`  PKI reloads: ${t.reloads}${t.lastReloadAt ? `, last at ${t.lastReloadAt}` : ''}`)
  if (t.rejected) {
    out.push(`  REJECTED new PKI files at ${t.rejected.at} (running the previous ones):`)
    for (const p of t.rejected.problems) out.push(`    ${p}`)
  }
  return out.join('\n')
}

import type { DiscoveryStatus } from '../wire/status.js'
/** The discovery lines of `latchctl status`: the peers file, or the etcd connection and its records. */

export function formatDiscovery(d: DiscoveryStatus): string[] {
  if (d.backend === 'file') {
    const out = [`  discovery: peers file ${d.file} (${d.peers} peers)`]
    if (d.rejected)
      out.push(
        `    last edit REJECTED, the peers stayed as they were: ${d.rejected.message} [${d.rejected.at}]`,
      )
    return out
  }
  const out = [
    `  discovery: etcd ${d.endpoints.join(',')} prefix ${d.prefix}  ${d.connected ? 'connected' : 'NOT CONNECTED (peers kept as they are)'}  ` +
      `${d.registered ? 'registered' : 'NOT REGISTERED'} (lease ${d.leaseTtlSeconds}s)  ${d.records} records` +
      `${d.revision ? `  revision ${d.revision}` : ''}  resyncs ${d.resyncs}`,
  ]
  if (d.lastError && !d.connected) out.push(`    last error: ${d.lastError.message} [${d.lastError.at}]`)
  for (const g of d.departing)
    out.push(`    ${g.name}: registration gone; removed at ${g.until} unless it registers again`)
  for (const r of d.rejected) out.push(`    refused record ${r.key}: ${r.problem} [${r.at}]`)
  return out
}

/**
 * What an accepted new PKI file set does to a running latchd (the `apply` of TrustLifecycle):
 *  - the trust bundle, node certificate/key and intermediate replace those in `local` (what every
 *    handshake presents and checks against) and the listener's TLS context, for the next handshakes;
 *  - every peer re-authenticates at once, make-before-break (mesh.rehandshakeAll): tunnels and pairs
 *    stay up, the new PSK is programmed before the old control connection closes;
 *  - pair authentication takes the bundle and list too, and renews local SVIDs from a new intermediate;
 *  - a new revocation list cuts revoked peers (session + tunnel) and the pairs of revoked identities
 *    now; later handshakes of anything it names are refused by verify() with `revoked`.
 */
import type { Logger } from 'pino'
import type { HandshakeServer } from '../handshake/server.js'
import type { LocalNode } from '../handshake/types.js'
import type { TrustMaterial } from '../identity/trust-material.js'
import type { Mesh } from './mesh.js'
import type { PairService } from './pair-service.js'
import type { TrustChange } from './trust-lifecycle.js'

export interface TrustTargets {
  local: LocalNode
  server: HandshakeServer
  mesh: Mesh
  pairs: () => PairService | undefined
  logger: Logger
}

export function applyTrust(t: TrustTargets, next: TrustMaterial, changed: TrustChange): void {
  t.local.rootPem = next.rootPem
  t.local.certPem = next.certPem
  t.local.keyPem = next.keyPem
  t.local.intermediatePem = next.intermediatePem
  t.local.revocations = next.revocations
  if (changed.bundle || changed.node) t.server.setLocal(t.local)
  t.pairs()?.setTrust({
    rootPem: next.rootPem,
    node: { certPem: next.certPem, keyPem: next.keyPem },
    revocations: next.revocations,
    intermediateChanged: changed.intermediate,
  })
  if (changed.revocations) {
    const list = next.revocations
    const cut = t.mesh.applyRevocations(
      (p) =>
        list.revokedId(p.spiffeId) ??
        (p.serial === undefined ? undefined : list.revoked({ serial: p.serial, spiffeId: undefined })),
    )
    t.logger.info(
      { event: 'revocations_applied', digest: list.digest, entries: list.entries.length, peersCut: cut },
      `revocation list ${list.digest} (${list.entries.length} entries) applied${cut.length > 0 ? `; cut peers ${cut.join(', ')}` : ''}`,
    )
  }
  if (changed.bundle || changed.node || changed.intermediate) t.mesh.rehandshakeAll('PKI files reloaded')
}

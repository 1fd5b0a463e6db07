/** What a handshake needs from this node, and what it returns. */
import type { RevocationCheck } from '../../certs/verify.js'
import type { NodeChannel } from './channel.js'
import type { WorkloadEntry } from './protocol.js'
import type { Refusal } from './reasons.js'

/** This node as it presents itself to peers. `keyPem` is the only secret; it is never logged or sent. */
export interface LocalNode {
  node: string
  trustDomain: string
  /** The root CA (trust bundle), PEM. */
  rootPem: string
  /** This node's certificate, PEM (leaf first; may include more of the chain). */
  certPem: string
  keyPem: string
  /** This node's name-constrained intermediate CA, PEM (public; sent in the hello). */
  intermediatePem: string
  wgPublicKey: string
  /** `ip:port` of this node's WireGuard listener. */
  endpoint: string
  tunnelAddress: string
  workloadCidrs: string[]
  workloads: WorkloadEntry[]
  /** The revocation list peers are checked against (hot-reloaded; absent = none). */
  revocations?: RevocationCheck | undefined
}

/** What the peer proved (certificate) and claimed (hello, checked). */
export interface PeerInfo {
  node: string
  spiffeId: string
  wgPublicKey: string
  endpoint: string
  tunnelAddress: string
  workloadCidrs: string[]
  workloads: WorkloadEntry[]
  /** Certificate lifetime end: the session must be re-established before it. */
  certNotAfter: Date
  /** Its serial number, lower-case hex (for revocation by serial). */
  certSerial?: string
  /** Fingerprint of the node certificate it proved (`sha256:<hex>`). */
  certFingerprint: string
}

export interface NodeSession {
  role: 'client' | 'server'
  peer: PeerInfo
  /** The pair's WireGuard preshared key, base64. Secret: never log it. */
  presharedKey: string
  establishedAt: Date
  /** From TCP connect (client) / TLS accept (server) to established, ms. */
  durationMs: number
  channel: NodeChannel
}

export type HandshakeOutcome =
  | { ok: true; session: NodeSession }
  | {
      ok: false
      role: 'client' | 'server'
      /** The peer's node name: the one we dialed, or (server) the one its certificate claims. */
      peer: string | undefined
      /** true when the other end's certificate did not verify: `peer` is who we dialed or who it claims to be. */
      peerUnverified: boolean
      refusal: Refusal
      durationMs: number
    }

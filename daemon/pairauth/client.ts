/**
 * Authenticating one identity pair as the client: daemon A, for its workload X, asks daemon B for Y.
 * Resolves with the outcome (ours, the peer's or the transport's verdict); never rejects, writes
 * nothing: the caller writes auth entries and ipcache entries from a successful outcome.
 */
import type { DetailedPeerCertificate } from 'node:tls'
import { formatEndpoint } from '../config/net.js'
import { dialTls } from '../handshake/dial.js'
import type { WorkloadCredentials } from './credentials.js'
import { runPairExchange } from './exchange.js'
import { PAIR_ALPN, PAIR_AUTH_PORT, serverNameFor } from './protocol.js'
import type { PairReason } from './reasons.js'
import { DEFAULT_PAIR_TIMING, type PairTiming } from './timing.js'
import type { NodeConstraints, PairOutcome, PairPolicy, TrustAnchor } from './types.js'

export interface AuthenticatePairOptions {
  trust: TrustAnchor
  /** Where X's SVID comes from (the current one is used: renewal applies to the next call). */
  credentials: WorkloadCredentials
  /** X: our workload. */
  local: string
  /** Y: the remote workload. */
  remote: string
  /** Daemon B: its node name and pair-auth listener (its tunnel address; port default PAIR_AUTH_PORT). */
  peer: { node: string; address: string; port?: number }
  /** Bind to this source address (our tunnel address), so B can tell which node we are. */
  localAddress?: string
  /** B's constraints from the node session; undefined when there is no session with B. */
  constraints: NodeConstraints | undefined
  policy: PairPolicy
  ttlMs: number
  timing?: PairTiming
  now?: () => Date
}

export async function authenticatePair(o: AuthenticatePairOptions): Promise<PairOutcome> {
  const timing = o.timing ?? DEFAULT_PAIR_TIMING
  const now = o.now ?? (() => new Date())
  const startedAt = Date.now()
  const deadline = startedAt + timing.handshakeTimeoutMs
  const port = o.peer.port ?? PAIR_AUTH_PORT
  const where = formatEndpoint(o.peer.address, port)
  const refusal = (reason: PairReason, message: string, by: 'local' | 'transport'): PairOutcome => ({
    ok: false,
    role: 'client',
    local: o.local,
    remote: o.remote,
    remoteNode: o.peer.node,
    reason,
    message,
    by,
    durationMs: Date.now() - startedAt,
  })
  const credential = o.credentials.get(o.local)
  if (credential === undefined) {
    return refusal('no_credentials', `this node holds no SVID for ${o.local}`, 'local')
  }
  const constraints = o.constraints
  if (constraints === undefined) {
    return refusal(
      'unknown_node',
      `no node session with ${o.peer.node}: its constraints are unknown`,
      'local',
    )
  }
  // node:tls builds the server's detailed certificate for checkServerIdentity: keep it for the screen
  let presented: DetailedPeerCertificate | undefined
  const dialed = await dialTls(
    {
      host: o.peer.address,
      port,
      ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
      secureContext: credential.context,
      servername: serverNameFor(o.remote),
      ALPNProtocols: [PAIR_ALPN],
      rejectUnauthorized: false,
      // the identity is the SPIFFE ID, checked in the exchange; there is no DNS name to check
      checkServerIdentity: (_host, cert) => {
        presented = cert as DetailedPeerCertificate
        return undefined
      },
    },
    // a few small frames each way: never wait for Nagle / delayed ACK
    { timeoutMs: timing.handshakeTimeoutMs, where, noDelay: true },
  )
  if (!dialed.ok) return refusal(dialed.reason, dialed.message, 'transport')
  const socket = dialed.socket
  if (socket.alpnProtocol !== PAIR_ALPN) {
    socket.destroy()
    return refusal('tls_failed', `${where} does not speak ${PAIR_ALPN}`, 'transport')
  }
  return runPairExchange({
    socket,
    role: 'client',
    trust: o.trust,
    local: o.local,
    ownNotAfter: credential.notAfter.getTime(),
    presented,
    expectedRemote: o.remote,
    node: o.peer.node,
    constraints,
    policy: o.policy,
    ttlMs: o.ttlMs,
    deadline,
    startedAt,
    now,
  })
}

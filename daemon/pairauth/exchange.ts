/**
 * The pair-auth exchange on a TLS connection whose two ends are known (protocol.ts, steps 2-3): the
 * server judges the client's SVID and speaks first; the client, on `accept`, judges the server's SVID
 * and answers. Each refusal goes to the peer, so both daemons see the same reason. Resolves with the
 * outcome; never rejects, writes nothing.
 */
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'
import type { VerifyReason } from '../../certs/index.js'
import { screenPeer } from '../handshake/peer-chain.js'
import { checkPeerSvid, type SvidVerdict } from './check-svid.js'
import { PairConnection } from './framed.js'
import type { PairMessage } from './protocol.js'
import { isPairReason, type PairReason, type PairRefusalBy, reasonOfVerify } from './reasons.js'
import type { NodeConstraints, PairOutcome, PairPolicy, PairRole, TrustAnchor } from './types.js'

export interface ExchangeOptions {
  socket: TLSSocket
  role: PairRole
  trust: TrustAnchor
  /** Our workload: X (client) or Y (server). */
  local: string
  /**
   * notAfter (ms since the epoch) of the SVID this side presented: the credential's, known once per
   * SVID (not read back from the socket per handshake).
   */
  ownNotAfter: number
  /** The peer's getPeerCertificate(true), when node:tls already built it (client: checkServerIdentity). */
  presented?: DetailedPeerCertificate | undefined
  /** Client: the identity it asked for (Y). */
  expectedRemote?: string
  /** The peer node, and what it may speak for. */
  node: string
  constraints: NodeConstraints
  policy: PairPolicy
  ttlMs: number
  /** Give up at this time (ms since the epoch, Date.now() clock). */
  deadline: number
  startedAt: number
  now: () => Date
}

export function runPairExchange(o: ExchangeOptions): Promise<PairOutcome> {
  const conn = new PairConnection(o.socket)
  return new Promise<PairOutcome>((resolve) => {
    let settled = false
    let remote: string | undefined = o.expectedRemote
    let proposal: number | undefined
    let verdict: Extract<SvidVerdict, { ok: true }> | undefined
    const timer = setTimeout(
      () => fail('timeout', 'no verdict from the peer in time', 'transport'),
      Math.max(0, o.deadline - Date.now()),
    )

    function finish(outcome: PairOutcome): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }

    function fail(reason: PairReason, message: string, by: PairRefusalBy, certReason?: VerifyReason): void {
      if (settled) return
      finish({
        ok: false,
        role: o.role,
        local: o.local,
        remote,
        remoteNode: o.node,
        reason,
        message,
        by,
        ...(certReason === undefined ? {} : { certReason }),
        durationMs: Date.now() - o.startedAt,
      })
      if (by === 'local') conn.close({ type: 'refuse', reason, message })
      else conn.close()
    }

    /** Check the peer's SVID and the policy; on success, our expiry proposal. */
    function judge(): number | undefined {
      // cheap checks first: a leaf, OpenSSL's verdict, the chain's length (handshake/peer-chain.ts)
      const screened = screenPeer(o.socket, o.presented)
      if (!screened.ok) {
        if (screened.refusal === 'untrusted') {
          const message = `the SVID of node ${o.node}'s workload: ${screened.message}`
          fail(reasonOfVerify(screened.reason), message, 'local', screened.reason)
        } else fail(screened.refusal, screened.message, 'local')
        return undefined
      }
      const v = checkPeerSvid(
        {
          chain: screened.chain,
          tlsAuthorized: o.socket.authorized,
          tlsError: String(o.socket.authorizationError ?? ''),
          purpose: o.role === 'client' ? 'server' : 'client',
          expectedId: o.expectedRemote,
        },
        { trust: o.trust, node: o.node, constraints: o.constraints, now: o.now() },
      )
      if (!v.ok) {
        fail(v.reason, v.message, 'local', v.certReason)
        return undefined
      }
      remote = v.spiffeId
      if (!o.policy.pairAllowed(o.local, v.spiffeId)) {
        fail('policy_denied', `the policy here does not allow ${o.local} <-> ${v.spiffeId}`, 'local')
        return undefined
      }
      verdict = v
      return Math.min(o.ownNotAfter, v.notAfter.getTime(), o.now().getTime() + o.ttlMs)
    }

    function succeed(theirs: number): void {
      if (verdict === undefined || proposal === undefined) return
      finish({
        ok: true,
        role: o.role,
        local: o.local,
        remote: verdict.spiffeId,
        remoteNode: o.node,
        remoteIps: verdict.ips,
        expiresAt: new Date(Math.min(proposal, theirs)),
        durationMs: Date.now() - o.startedAt,
      })
    }

    function onMessage(m: PairMessage): void {
      if (settled) return
      if (m.type === 'refuse') {
        const reason = m.reason
        if (isPairReason(reason)) fail(reason, m.message, 'peer')
        else fail('bad_message', `refused with unknown reason "${reason}": ${m.message}`, 'peer')
        return
      }
      if (o.role === 'server') {
        // the client's answer to our accept
        succeed(m.expiresAt)
        conn.close()
        return
      }
      // client: the server accepted us; now we judge it
      proposal = judge()
      if (proposal === undefined) return
      conn.send({ type: 'accept', expiresAt: proposal })
      succeed(m.expiresAt)
      conn.close()
    }

    conn.setHandlers({
      message: onMessage,
      end: (why, protocolError) =>
        protocolError ? fail('bad_message', why, 'local') : fail('connection_lost', why, 'transport'),
    })

    if (o.role === 'server') {
      proposal = judge()
      if (proposal !== undefined) conn.send({ type: 'accept', expiresAt: proposal })
    }
  })
}

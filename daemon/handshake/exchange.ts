/**
 * The protocol run on a freshly connected TLS socket, the same for both roles: check the peer's
 * certificate, send hello, check the peer's hello, accept or refuse, wait for the peer's verdict,
 * derive the PSK. Refusals are sent to the peer (so both logs show the reason) and returned.
 */
import { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { certFingerprint } from '../../certs/fingerprint.js'
import { NodeChannel } from './channel.js'
import { checkHello, checkPeerCertificate, claimedNodeName, type PeerIdentity } from './check-peer.js'
import { FramedConnection } from './connection.js'
import { screenPeer } from './peer-chain.js'
import { ALPN, type Hello, type Message, messageSchema, PROTOCOL_VERSION } from './protocol.js'
import { derivePsk } from './psk.js'
import type { Refusal, RefusalReason } from './reasons.js'
import type { HandshakeTiming } from './timing.js'
import type { HandshakeOutcome, LocalNode } from './types.js'

export interface ExchangeOptions {
  socket: TLSSocket
  local: LocalNode
  role: 'client' | 'server'
  /** client: the node we dialed. */
  expectedNode?: string
  /** server: whether an authenticated node may connect (it is in our peers file). */
  isKnownPeer?: (node: string) => boolean
  /**
   * server: whether the peers are loaded. Until they are (a restarting daemon between its listener
   * and its discovery), an authenticated node that is not known yet is told `starting`, not
   * `unknown_peer`: the dialer keeps its tunnel and retries instead of removing it.
   */
  peersLoaded?: () => boolean
  /**
   * The certificate fingerprint the node's discovery registration names, if it names one: an
   * authenticated peer whose certificate differs is refused (`registration_mismatch`).
   */
  registeredFingerprint?: (node: string) => string | undefined
  timing: HandshakeTiming
  startedAt: number
  now?: () => Date
}

export function runExchange(o: ExchangeOptions): Promise<HandshakeOutcome> {
  const now = o.now ?? (() => new Date())
  const conn = new FramedConnection(o.socket, messageSchema)
  const trust = {
    rootPem: o.local.rootPem,
    trustDomain: o.local.trustDomain,
    now: now(),
    revocations: o.local.revocations,
  }

  return new Promise<HandshakeOutcome>((resolve) => {
    let settled = false
    let peer: PeerIdentity | undefined
    let peerName: string | undefined = o.expectedNode
    let peerUnverified = false
    let hello: Hello | undefined
    let fingerprint = ''
    let accepted = false // we accepted the peer's hello
    let peerAccepted = false

    const left = Math.max(0, o.timing.handshakeTimeoutMs - (Date.now() - o.startedAt))
    const timer = setTimeout(
      () => fail('timeout', `no session after ${o.timing.handshakeTimeoutMs} ms`, 'transport'),
      left,
    )

    function finish(outcome: HandshakeOutcome): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }

    function fail(reason: RefusalReason | string, message: string, by: Refusal['by']): void {
      if (settled) return
      const outcome: HandshakeOutcome = {
        ok: false,
        role: o.role,
        peer: peerName,
        peerUnverified,
        refusal: { reason, message, by },
        durationMs: Date.now() - o.startedAt,
      }
      finish(outcome)
      if (by === 'local') conn.close({ type: 'refuse', reason, message })
      else conn.destroy(message)
    }

    function maybeEstablished(): void {
      if (!accepted || !peerAccepted || !hello || !peer || settled) return
      const presharedKey = derivePsk(o.socket, o.local.wgPublicKey, hello.wgPublicKey)
      const channel = new NodeChannel(conn, o.timing)
      finish({
        ok: true,
        session: {
          role: o.role,
          peer: {
            node: peer.node,
            spiffeId: peer.spiffeId,
            wgPublicKey: hello.wgPublicKey,
            endpoint: hello.endpoint,
            tunnelAddress: hello.tunnelAddress,
            workloadCidrs: [...hello.workloadCidrs],
            workloads: hello.workloads,
            certNotAfter: peer.notAfter,
            certSerial: peer.serial,
            certFingerprint: fingerprint,
          },
          presharedKey,
          establishedAt: now(),
          durationMs: Date.now() - o.startedAt,
          channel,
        },
      })
    }

    conn.setHandlers({
      message: (m: Message) => {
        if (m.type === 'refuse') return fail(m.reason, m.message, 'peer')
        if (m.type === 'hello' && !hello && peer) {
          const verdict = checkHello(m, peer, { ...trust, localWgPublicKey: o.local.wgPublicKey })
          if (!verdict.ok) return fail(verdict.reason, verdict.message, 'local')
          hello = m
          accepted = true
          conn.send({ type: 'accept' })
          return maybeEstablished()
        }
        if (m.type === 'accept' && !peerAccepted && peer) {
          peerAccepted = true
          return maybeEstablished()
        }
        if (m.type === 'ping') return conn.send({ type: 'pong' })
        if (m.type === 'pong') return
        fail('bad_message', `unexpected ${m.type} message during the handshake`, 'local')
      },
      end: (why, protocolError) =>
        protocolError ? fail('bad_message', why, 'local') : fail('connection_lost', why, 'transport'),
    })

    // 1. who is the peer?
    if (o.socket.alpnProtocol !== ALPN) {
      return fail(
        'tls_failed',
        `the peer does not speak ${ALPN} (ALPN ${String(o.socket.alpnProtocol)})`,
        'local',
      )
    }
    // cheap checks first: a leaf, OpenSSL's verdict, the chain's length (peer-chain.ts)
    const screened = screenPeer(o.socket)
    if (!screened.ok) {
      peerUnverified = true
      if (screened.refusal === 'no_certificate') return fail('no_certificate', screened.message, 'local')
      peerName ??= claimedNodeName(screened.leafDer)
      if (screened.refusal === 'chain_too_long') return fail('chain_too_long', screened.message, 'local')
      return fail(`cert_${screened.reason}`, screened.message, 'local')
    }
    const chainPem = screened.chain.map((der) => new X509Certificate(der).toString())
    const cert = checkPeerCertificate(
      {
        chainPem,
        tlsAuthorized: o.socket.authorized,
        tlsError: String(o.socket.authorizationError ?? ''),
        expectedNode: o.expectedNode,
        purpose: o.role === 'client' ? 'server' : 'client',
      },
      trust,
    )
    if (!cert.ok) {
      // whoever is at the other end did not prove an identity: attribute the refusal, flagged
      peerName ??= claimedNodeName(chainPem[0])
      peerUnverified = true
      return fail(cert.reason, cert.message, 'local')
    }
    if (o.role === 'server') {
      peerName = cert.node
      if (o.isKnownPeer && !o.isKnownPeer(cert.node)) {
        if (o.peersLoaded && !o.peersLoaded())
          return fail('starting', `this node is starting: its peers are not loaded yet; retry`, 'local')
        return fail('unknown_peer', `node ${cert.node} is not in this node's peers file`, 'local')
      }
    }
    fingerprint = certFingerprint(chainPem[0] ?? '')
    const registered = o.registeredFingerprint?.(cert.node)
    if (registered !== undefined && registered !== fingerprint) {
      return fail(
        'registration_mismatch',
        `node ${cert.node} proved certificate ${fingerprint}, but its registration names ${registered}`,
        'local',
      )
    }
    peer = cert
    // 2. introduce ourselves
    conn.send({
      type: 'hello',
      version: PROTOCOL_VERSION,
      node: o.local.node,
      wgPublicKey: o.local.wgPublicKey,
      endpoint: o.local.endpoint,
      tunnelAddress: o.local.tunnelAddress,
      workloadCidrs: o.local.workloadCidrs,
      intermediatePem: o.local.intermediatePem,
      workloads: o.local.workloads,
    })
  })
}

/** The node handshake listener (TLS 1.3, config `listen`). */

import { LatchError } from '../../base/errors.js'
import type { Component } from '../../base/lifecycle.js'
import { formatEndpoint } from '../../config/net.js'
import { HandshakeServer } from '../../handshake/server.js'
import { listenOr } from '../listen-or.js'
import { type DaemonParts, need } from '../parts.js'

export const handshakeListenerComponent: Component<DaemonParts> = {
  name: 'handshake listener',
  async start(p) {
    const c = p.config
    const m = need(p.mesh, 'the mesh')
    let server: HandshakeServer
    try {
      server = new HandshakeServer({
        local: need(p.local, 'the local node'),
        isKnownPeer: (n) => m.has(n),
        // the peering component hands the mesh its peers after every listener is up
        peersLoaded: () => p.peering === true,
        registeredFingerprint: (n) => m.registeredFingerprint(n),
        onOutcome: (outcome) => m.inbound(outcome),
        onTlsError: (err, remote) =>
          p.logger.warn(
            { event: 'tls_error', remote },
            `TLS handshake from ${remote} failed: ${err.message}`,
          ),
        timing: need(p.timing, 'the handshake timing'),
        guard: need(p.guards, 'the listener limits').node,
      })
    } catch (err) {
      throw new LatchError(
        'LATCH_ERR_DAEMON_IDENTITY',
        `cannot use the node certificate and key: ${(err as Error).message}`,
        { cause: err, details: { certFile: c.pki.certFile, keyFile: c.pki.keyFile } },
      )
    }
    const listenAt = formatEndpoint(c.listen.address, c.listen.port)
    const bound = await listenOr('handshakes', listenAt, () => server.listen(c.listen.address, c.listen.port))
    p.handshake = server
    p.listenPort = bound.port
  },
  async stop(p) {
    await p.handshake?.close(true)
  },
}

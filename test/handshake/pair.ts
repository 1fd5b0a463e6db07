/** Run one handshake between two LocalNodes on 127.0.0.1 and return both sides' outcomes. */
import {
  dialPeer,
  type HandshakeOutcome,
  HandshakeServer,
  type HandshakeTiming,
  type LocalNode,
} from '../../daemon/handshake/index.js'

export interface PairOptions {
  /** The node name the client expects (default: the server's node). */
  expect?: string
  /** Whether the server knows the client (default: yes). */
  known?: boolean
  /** Whether the server has loaded its peers (default: it has). */
  peersLoaded?: boolean
  timing?: HandshakeTiming
  /** The fingerprint the client's registration of the server names (etcd discovery). */
  serverFingerprint?: string
  /** The fingerprint the server's registration of the client names. */
  clientFingerprint?: string
}

export interface PairResult {
  client: HandshakeOutcome
  server: HandshakeOutcome
  close: () => Promise<void>
}

export async function handshakePair(
  client: LocalNode,
  server: LocalNode,
  o: PairOptions = {},
): Promise<PairResult> {
  let resolveServer!: (x: HandshakeOutcome) => void
  const serverOutcome = new Promise<HandshakeOutcome>((r) => {
    resolveServer = r
  })
  const srv = new HandshakeServer({
    local: server,
    isKnownPeer: () => o.known ?? true,
    ...(o.peersLoaded !== undefined && { peersLoaded: () => o.peersLoaded as boolean }),
    registeredFingerprint: () => o.clientFingerprint,
    onOutcome: resolveServer,
    ...(o.timing && { timing: o.timing }),
  })
  const { port } = await srv.listen('127.0.0.1', 0)
  const clientOutcome = await dialPeer({
    local: client,
    peer: {
      name: o.expect ?? server.node,
      address: '127.0.0.1',
      port,
      ...(o.serverFingerprint !== undefined && { fingerprint: o.serverFingerprint }),
    },
    ...(o.timing && { timing: o.timing }),
  })
  const s = await serverOutcome
  return {
    client: clientOutcome,
    server: s,
    close: async () => {
      for (const x of [clientOutcome, s]) if (x.ok) x.session.channel.close('test done')
      await srv.close(true)
    },
  }
}

export function reasonOf(o: HandshakeOutcome): string {
  return o.ok ? 'ok' : `${o.refusal.by}:${o.refusal.reason}`
}

/**
 * A real TLS 1.3 mutual handshake on 127.0.0.1 between two identities, the way latch endpoints do it:
 * both present their chain, both require and verify the other's against the root (OpenSSL path
 * validation, name constraints included). Hostname checks are off: SPIFFE identities are URIs.
 */
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'

export interface Endpoint {
  chainPem: string
  keyPem: string
}

export interface TlsOutcome {
  ok: boolean
  protocol?: string | null
  cipher?: string
  /** The URI SAN of the certificate each side received. */
  serverSawClient?: string
  clientSawServer?: string
  clientError?: string
  serverError?: string
}

function uriOf(cert: tls.PeerCertificate | undefined): string | undefined {
  return cert?.subjectaltname
    ?.split(', ')
    .find((n) => n.startsWith('URI:'))
    ?.slice(4)
}

export async function mutualTls(
  server: Endpoint,
  client: Endpoint,
  ca: string | string[],
): Promise<TlsOutcome> {
  const outcome: TlsOutcome = { ok: false }
  const srv = tls.createServer({
    key: server.keyPem,
    cert: server.chainPem,
    ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  })
  srv.on('tlsClientError', (err) => {
    outcome.serverError = `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim()
  })
  srv.on('secureConnection', (socket) => {
    outcome.serverSawClient = uriOf(socket.getPeerCertificate())
    socket.on('data', (d) => socket.end(d))
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        outcome.clientError ??= 'timeout'
        sock.destroy()
        resolve()
      }, 5000)
      const sock = tls.connect({
        host: '127.0.0.1',
        port,
        key: client.keyPem,
        cert: client.chainPem,
        ca,
        minVersion: 'TLSv1.3',
        checkServerIdentity: () => undefined,
      })
      sock.on('secureConnect', () => {
        outcome.protocol = sock.getProtocol()
        outcome.cipher = sock.getCipher().name
        outcome.clientSawServer = uriOf(sock.getPeerCertificate())
        sock.write('ping')
      })
      sock.on('data', (d) => {
        // TLS 1.3: the client finishes before the server has judged its certificate; only an echo from
        // the server proves both sides accepted each other
        outcome.ok = d.toString() === 'ping'
      })
      sock.on('error', (err) => {
        outcome.clientError = `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim()
      })
      sock.on('close', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()))
  }
  if (outcome.clientError !== undefined || outcome.serverError !== undefined) outcome.ok = false
  return outcome
}

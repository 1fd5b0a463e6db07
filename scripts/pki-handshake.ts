#!/usr/bin/env node
/**
 * A real TLS 1.3 mutual handshake on 127.0.0.1 between two workload identities, as latch endpoints do
 * it: each side presents its SVID chain, requires the other's, and OpenSSL validates it against the root
 * (name constraints included); then each side runs verify() on what it received. Prints the protocol,
 * the cipher and both peers' SPIFFE IDs; exits non-zero unless everything checked out.
 *
 *   node dist/scripts/pki-handshake.js --ca ROOT.crt --trust-domain TD \
 *     --server-chain chain.pem --server-key svid.key --client-chain chain.pem --client-key svid.key
 */
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { parseArgs } from 'node:util'
import { readPrivateKey } from '../certs/keys.js'
import { type VerifyResult, verify } from '../certs/verify.js'
import { loadPem } from '../certs/x509.js'

const { values: a } = parseArgs({
  options: {
    ca: { type: 'string' },
    'trust-domain': { type: 'string' },
    'server-chain': { type: 'string' },
    'server-key': { type: 'string' },
    'client-chain': { type: 'string' },
    'client-key': { type: 'string' },
  },
})
const need = (name: keyof typeof a): string => {
  const v = a[name]
  if (typeof v !== 'string') {
    process.stderr.write(`pki-handshake: --${name} is required\n`)
    process.exit(64)
  }
  return v
}

/** The peer's chain (leaf first) as DER, from what OpenSSL received in the handshake. */
function peerChain(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = []
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true)
  while (cert?.raw && !out.some((d) => d.equals(cert?.raw as Buffer))) {
    out.push(cert.raw)
    cert = cert.issuerCertificate
  }
  return out
}

const describe = (r: VerifyResult) =>
  r.ok
    ? `${r.spiffeId} (verified, good until ${r.notAfter.toISOString()})`
    : `REJECTED ${r.reason}: ${r.message}`

const ca = await loadPem(need('ca'))
const bundle = { roots: ca, trustDomain: need('trust-domain') }
const server = { cert: await loadPem(need('server-chain')), key: await readPrivateKey(need('server-key')) }
const client = { cert: await loadPem(need('client-chain')), key: await readPrivateKey(need('client-key')) }

let serverView: VerifyResult | undefined
const srv = tls.createServer({
  ...server,
  ca,
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
})
srv.on('secureConnection', (socket) => {
  serverView = verify(peerChain(socket), bundle, { purpose: 'client' })
  socket.end(serverView.ok ? `hello ${serverView.spiffeId}` : 'rejected')
})
await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
const { port } = srv.address() as AddressInfo

interface ClientResult {
  protocol: string | null
  cipher: string
  clientView?: VerifyResult
  reply: string
  error?: string
}

const result = await new Promise<ClientResult>((resolve) => {
  const socket = tls.connect({
    ...client,
    host: '127.0.0.1',
    port,
    ca,
    minVersion: 'TLSv1.3',
    checkServerIdentity: () => undefined,
  })
  const out: ClientResult = { protocol: null, cipher: '', reply: '' }
  socket.on('secureConnect', () => {
    out.protocol = socket.getProtocol()
    out.cipher = socket.getCipher().name
    out.clientView = verify(peerChain(socket), bundle, { purpose: 'server' })
  })
  socket.on('data', (d) => {
    out.reply += d.toString()
  })
  socket.on('error', (err) => {
    out.error = `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}`
  })
  socket.on('close', () => resolve(out))
}).finally(() => srv.close())

const rows: Array<[string, string]> = [
  ['endpoint', `127.0.0.1:${port}`],
  ['protocol', String(result.protocol)],
  ['cipher', result.cipher],
  ['client saw server', result.clientView ? describe(result.clientView) : 'nothing (handshake refused)'],
  ['server saw client', serverView ? describe(serverView) : 'nothing (handshake refused)'],
  ['server said', JSON.stringify(result.reply)],
  ...(result.error === undefined ? [] : ([['client error', result.error]] as Array<[string, string]>)),
]
process.stdout.write(`${rows.map(([k, v]) => `  ${`${k}:`.padEnd(19)}${v}`).join('\n')}\n`)
const ok = result.protocol === 'TLSv1.3' && result.clientView?.ok === true && serverView?.ok === true
process.exitCode = ok ? 0 : 1

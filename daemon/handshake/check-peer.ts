/**
 * The checks a daemon applies to its peer during the handshake. Pure: certificates and messages in,
 * a verdict with a typed reason out. Two steps:
 *  1. checkPeerCertificate: the TLS peer certificate chains to our root (node:tls said so — looked at
 *     first: a refusal OpenSSL names is not re-verified — AND certs' verify() agrees), carries exactly one node SPIFFE ID of our trust domain, and is the node we
 *     expected (client) or one we know (server, see the caller).
 *  2. checkHello: what the peer claims is bound to what it proved: name = certificate, endpoint = an
 *     address of the certificate, an intermediate issued by our root for that node whose name
 *     constraints cover the claimed CIDRs and our trust domain, and an inventory inside those CIDRs.
 */
import { X509Certificate } from 'node:crypto'
import { cidrsWithin, intermediateNamesNode, readNameConstraints, verify } from '../../certs/index.js'
import type { RevocationCheck } from '../../certs/verify.js'
import { nodeNameOf, parseSpiffeId } from '../base/spiffe-id.js'
import { ipInCidrs, isInterfaceCidr, isNetworkCidr, parseEndpoint } from '../config/net.js'
import { opensslVerdict } from './openssl-verdict.js'
import { type Hello, PROTOCOL_VERSION, type WorkloadEntry } from './protocol.js'
import type { RefusalReason } from './reasons.js'

export type Verdict<T> = ({ ok: true } & T) | { ok: false; reason: RefusalReason; message: string }

export interface TrustContext {
  rootPem: string
  trustDomain: string
  now: Date
  /** The revocation list: a revoked peer certificate is refused with cert_revoked. */
  revocations?: RevocationCheck | undefined
}

export interface PeerCertificateInput {
  /** The peer's chain as PEM, leaf first (from the TLS socket). Empty when it sent none. */
  chainPem: string[]
  /** node:tls's verdict (socket.authorized) and its error, if any. */
  tlsAuthorized: boolean
  tlsError?: string | undefined
  /** client: the peer must be exactly this node. */
  expectedNode?: string | undefined
  /** What the peer's certificate must be good for: 'server' when we dialed, 'client' when it dialed. */
  purpose: 'client' | 'server'
}

export interface PeerIdentity {
  node: string
  spiffeId: string
  ips: string[]
  notAfter: Date
  /** The node certificate's serial number, lower-case hex (revocation by serial). */
  serial: string
}

function refuse(
  reason: RefusalReason,
  message: string,
): { ok: false; reason: RefusalReason; message: string } {
  return { ok: false, reason, message }
}

/** The node name a certificate claims, unverified: for attributing a refusal in logs only. */
export function claimedNodeName(leaf: string | Buffer | undefined): string | undefined {
  if (!leaf || leaf.length === 0) return undefined
  try {
    const san = new X509Certificate(leaf).subjectAltName ?? ''
    const uri = /URI:(spiffe:\/\/[^,\s]+)/.exec(san)?.[1]
    return uri ? nodeNameOf(parseSpiffeId(uri)) : undefined
  } catch {
    return undefined
  }
}

export function checkPeerCertificate(
  input: PeerCertificateInput,
  trust: TrustContext,
): Verdict<PeerIdentity> {
  if (input.chainPem.length === 0) return refuse('no_certificate', 'the peer presented no certificate')
  const tls = opensslVerdict(input.tlsAuthorized, input.tlsError)
  if (!tls.ok && tls.reason !== undefined) return refuse(`cert_${tls.reason}`, tls.message)
  const result = verify(
    input.chainPem.join(''),
    {
      roots: trust.rootPem,
      trustDomain: trust.trustDomain,
      ...(trust.revocations && { revocations: trust.revocations }),
    },
    { purpose: input.purpose, kind: 'node', at: trust.now },
  )
  if (!result.ok) return refuse(`cert_${result.reason}`, result.message)
  if (!tls.ok) return refuse('untrusted_certificate', tls.message)
  const spiffeId = result.spiffeId
  const node = nodeNameOf(result.id)
  if (node === undefined) {
    return refuse(
      'wrong_peer',
      `${spiffeId} is not a node identity (spiffe://${trust.trustDomain}/latch/node/NAME)`,
    )
  }
  if (input.expectedNode !== undefined && node !== input.expectedNode) {
    return refuse('wrong_peer', `expected node ${input.expectedNode}, the certificate is for node ${node}`)
  }
  const serial = result.chain[0]?.serialNumber.toLowerCase() ?? ''
  return { ok: true, node, spiffeId, ips: [...result.ips], notAfter: result.notAfter, serial }
}

/** The intermediate is a CA issued by the root for `node`, valid now. */
function checkIntermediate(
  pem: string,
  node: string,
  trust: TrustContext,
): Verdict<{ cert: X509Certificate }> {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  if (blocks.length !== 1)
    return refuse('intermediate_untrusted', 'the hello must carry exactly one intermediate')
  let cert: X509Certificate
  let roots: X509Certificate[]
  try {
    cert = new X509Certificate(blocks[0]!)
    // the bundle may hold several roots (rotation): any of them may have issued the intermediate
    roots = (trust.rootPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
      (b) => new X509Certificate(b),
    )
  } catch (err) {
    return refuse('intermediate_untrusted', `the intermediate does not parse: ${(err as Error).message}`)
  }
  if (!cert.ca) return refuse('intermediate_untrusted', 'the intermediate is not a CA certificate')
  if (!roots.some((root) => cert.checkIssued(root) && cert.verify(root.publicKey))) {
    return refuse('intermediate_untrusted', 'the intermediate was not issued by a root of our trust bundle')
  }
  const revoked = trust.revocations?.revoked({
    serial: cert.serialNumber.toLowerCase(),
    spiffeId: undefined,
    depth: 1,
  })
  if (revoked !== undefined) return refuse('cert_revoked', `the intermediate is revoked: ${revoked}`)
  const now = trust.now.getTime()
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) {
    return refuse(
      'intermediate_untrusted',
      `the intermediate is not valid now (${cert.validFrom} – ${cert.validTo})`,
    )
  }
  if (!intermediateNamesNode(cert, node, trust.trustDomain)) {
    return refuse(
      'intermediate_not_for_node',
      `the intermediate (${cert.subject.replace(/\n/g, ', ')}) is not node ${node}'s`,
    )
  }
  return { ok: true, cert }
}

/**
 * Whether the intermediate was issued for `node`: certs/node.ts names it `CN=latch node CA <node>`
 * (exact match, so no node name can match another node's intermediate), or a URI SAN with the node ID.
 * Without this binding a node could present another node's (public) intermediate and claim its CIDRs.
 */
export function checkInventory(
  workloads: WorkloadEntry[],
  cidrs: string[],
  trustDomain: string,
): Verdict<object> {
  for (const w of workloads) {
    let td: string
    try {
      const id = parseSpiffeId(w.id, { requirePath: true })
      if (id.segments[0] === 'latch') {
        return refuse('inventory_outside_cidrs', `workload ${w.id} is in the reserved /latch/ namespace`)
      }
      td = id.trustDomain
    } catch (err) {
      return refuse('inventory_outside_cidrs', `workload ${w.id}: ${(err as Error).message}`)
    }
    if (td !== trustDomain)
      return refuse('inventory_outside_cidrs', `workload ${w.id} is not in ${trustDomain}`)
    const outside = w.ips.filter((ip) => !ipInCidrs(ip, cidrs))
    if (outside.length > 0) {
      return refuse(
        'inventory_outside_cidrs',
        `workload ${w.id} has ${outside.join(', ')} outside ${cidrs.join(', ')}`,
      )
    }
  }
  return { ok: true }
}

export interface HelloContext extends TrustContext {
  localWgPublicKey: string
}

export function checkHello(hello: Hello, peer: PeerIdentity, ctx: HelloContext): Verdict<object> {
  if (hello.version !== PROTOCOL_VERSION) {
    return refuse('version_mismatch', `peer speaks protocol ${hello.version}, we speak ${PROTOCOL_VERSION}`)
  }
  if (hello.node !== peer.node) {
    return refuse('name_mismatch', `the hello says ${hello.node}, the certificate says ${peer.node}`)
  }
  if (hello.wgPublicKey === ctx.localWgPublicKey) {
    return refuse('same_wireguard_key', 'the peer announced our own WireGuard public key')
  }
  const endpoint = parseEndpoint(hello.endpoint)
  if (!endpoint) return refuse('bad_endpoint', `endpoint ${JSON.stringify(hello.endpoint)} is not ip:port`)
  if (!peer.ips.includes(endpoint.ip)) {
    return refuse(
      'bad_endpoint',
      `endpoint ${endpoint.ip} is not an address of the certificate (${peer.ips.join(', ') || 'none'})`,
    )
  }
  const tunnelLen = hello.tunnelAddress.split('/')[1]
  if (!isInterfaceCidr(hello.tunnelAddress) || !(tunnelLen === '32' || tunnelLen === '128')) {
    return refuse(
      'bad_tunnel_address',
      `tunnel address ${hello.tunnelAddress} is not a /32 or /128 host address`,
    )
  }
  const badCidr = hello.workloadCidrs.find((c) => !isNetworkCidr(c))
  if (badCidr !== undefined) return refuse('bad_message', `workload CIDR ${badCidr} is not a network CIDR`)

  const inter = checkIntermediate(hello.intermediatePem, peer.node, ctx)
  if (!inter.ok) return inter
  // from the certificate OpenSSL parsed, re-encoded: the text as sent may hold whitespace inside
  // its base64 that OpenSSL skips and the constraints' parser refuses (found by scripts/fuzz)
  const nc = readNameConstraints(inter.cert.toString())
  const td = ctx.trustDomain
  if (!nc.permittedUris.includes(td) || nc.permittedUris.some((u: string) => u !== td && u !== `.${td}`)) {
    return refuse(
      'constraints_wrong_trust_domain',
      `the intermediate permits URIs [${nc.permittedUris.join(', ')}], expected our trust domain ${td}`,
    )
  }
  const outside = cidrsWithin(hello.workloadCidrs, nc.permittedCidrs)
  if (outside.length > 0) {
    return refuse(
      'cidrs_outside_constraints',
      `claimed ${outside.join(', ')} outside the intermediate's permitted ranges [${nc.permittedCidrs.join(', ')}]`,
    )
  }
  return checkInventory(hello.workloads, hello.workloadCidrs, td)
}

/**
 * The extensions of each kind of certificate latch issues, in one place:
 *
 * | kind         | basicConstraints       | keyUsage (critical)         | other                                   |
 * |--------------|------------------------|-----------------------------|-----------------------------------------|
 * | root         | CA, pathLen 1 (crit.)  | keyCertSign, cRLSign        | SKI                                     |
 * | intermediate | CA, pathLen 0 (crit.)  | keyCertSign, cRLSign        | name constraints (critical), SKI, AKI   |
 * | node / SVID  | not a CA (critical)    | digitalSignature            | EKU server+client, SAN: 1 URI + IPs, SKI, AKI |
 */
import type { webcrypto } from 'node:crypto'
import { nameConstraintsExtension } from './name-constraints.js'
import { type X509Key, x509 } from './x509.js'

const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign

type Key = webcrypto.CryptoKey

async function keyIds(subjectKey: Key, issuer?: x509.X509Certificate): Promise<x509.Extension[]> {
  const ski = await x509.SubjectKeyIdentifierExtension.create(subjectKey as unknown as X509Key)
  if (issuer === undefined) return [ski]
  const issuerSki = issuer.getExtension(x509.SubjectKeyIdentifierExtension)
  const aki =
    issuerSki !== null
      ? new x509.AuthorityKeyIdentifierExtension(issuerSki.keyId)
      : await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey)
  return [ski, aki]
}

export async function rootExtensions(publicKey: Key): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, 1, true),
    new x509.KeyUsagesExtension(CA_USAGES, true),
    ...(await keyIds(publicKey)),
  ]
}

export async function intermediateExtensions(
  publicKey: Key,
  root: x509.X509Certificate,
  workloadCidrs: readonly string[],
  trustDomain: string,
): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(CA_USAGES, true),
    nameConstraintsExtension(workloadCidrs, [trustDomain]),
    ...(await keyIds(publicKey, root)),
  ]
}

/** Node certificates and workload SVIDs share this profile (both do TLS as client and server). */
export async function leafExtensions(
  publicKey: Key,
  issuer: x509.X509Certificate,
  spiffeId: string,
  ips: readonly string[],
): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension([
      { type: 'url', value: spiffeId },
      ...ips.map((ip) => ({ type: 'ip' as const, value: ip })),
    ]),
    ...(await keyIds(publicKey, issuer)),
  ]
}

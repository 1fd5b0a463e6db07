/**
 * What a hostile peer sends to make verification expensive (issue 11): a leaf and `cas` self-made CA
 * certificates, each issued by the next, the last self-signed. One key signs everything (the chain is
 * long, not strong). OpenSSL refuses it (no trusted root; beyond its depth); latch must not parse it.
 */
import { generateKey } from '../../certs/keys.js'
import { signCertificate, toPem, x509 } from '../../certs/x509.js'

export interface LongChain {
  /** The leaf, then the CAs from its issuer up: what the attacker configures as its certificate. */
  chainPem: string
  keyPem: string
  /** The self-signed CA at the top: trusting it makes the chain one OpenSSL accepts. */
  topPem: string
}

export async function longChain(cas: number, leaf: { uris: string[]; ips?: string[] }): Promise<LongChain> {
  const { keys, pem } = await generateKey()
  const now = Date.now()
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) }
  const ca = [new x509.BasicConstraintsExtension(true, undefined, true)]
  const certs: x509.X509Certificate[] = []
  for (let i = cas; i >= 1; i--) {
    const cert = await signCertificate({
      subject: `CN=hostile ca ${i}`,
      issuer: i === cas ? `CN=hostile ca ${i}` : `CN=hostile ca ${i + 1}`,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      ...validity,
      extensions: ca,
    })
    certs.unshift(cert)
  }
  const names = [
    ...leaf.uris.map((value) => ({ type: 'url' as const, value })),
    ...(leaf.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ]
  const cert = await signCertificate({
    subject: 'CN=hostile leaf',
    issuer: 'CN=hostile ca 1',
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    ...validity,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  })
  return { chainPem: toPem(cert, ...certs), keyPem: pem, topPem: toPem(certs[certs.length - 1]!) }
}

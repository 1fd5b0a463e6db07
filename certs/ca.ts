/** `latchctl ca init`: the root CA of a trust domain. */
import { LatchError } from '../daemon/base/errors.js'
import { parseTrustDomain } from '../daemon/base/spiffe-id.js'
import { LIFETIME } from './defaults.js'
import { commitFiles, exists, KEY_MODE, PUBLIC_MODE } from './files.js'
import { generateKey } from './keys.js'
import { caPaths } from './layout.js'
import { rootExtensions } from './profiles.js'
import { validityWindow } from './validity.js'
import { dnValue, signCertificate, toPem } from './x509.js'

export interface InitCaOptions {
  dir: string
  trustDomain: string
  /** Replace an existing CA (everything it issued stops verifying). */
  force?: boolean
  now?: Date
}

export async function initCa(options: InitCaOptions): Promise<{ files: string[] }> {
  const trustDomain = parseTrustDomain(options.trustDomain)
  const paths = caPaths(options.dir)
  if (!options.force) {
    for (const file of [paths.cert, paths.key, paths.trustDomain]) {
      if (await exists(file)) {
        throw new LatchError('LATCH_ERR_PKI_CA_EXISTS', `a CA already exists in ${options.dir} (${file})`, {
          details: { dir: options.dir, file },
        })
      }
    }
  }
  const { cert, pem } = await createRoot(`latch root CA ${trustDomain}`, trustDomain, options.now)
  const files = await commitFiles([
    { path: paths.cert, data: toPem(cert), mode: PUBLIC_MODE },
    { path: paths.key, data: pem, mode: KEY_MODE },
    { path: paths.trustDomain, data: `${trustDomain}\n`, mode: PUBLIC_MODE },
  ])
  return { files }
}

/** A new self-signed root (key + certificate) named `CN=<cn>, O=<trust domain>`; ca init and ca rotate. */
export async function createRoot(cn: string, trustDomain: string, now?: Date) {
  const { keys, pem } = await generateKey()
  const name = `CN=${dnValue(cn)}, O=${dnValue(trustDomain)}`
  const cert = await signCertificate({
    subject: name,
    issuer: name,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    ...validityWindow(LIFETIME.root, now),
    extensions: await rootExtensions(keys.publicKey),
  })
  return { cert, pem }
}

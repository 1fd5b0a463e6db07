/**
 * latchctl ca init --trust-domain TD [--dir DIR] [--force]
 * Creates the root CA of a trust domain: ca/root.crt, ca/root.key (0600), ca/trust-domain.
 */
import type { Command } from 'commander'
import { initCa } from '../../../certs/ca.js'
import { LIFETIME_TEXT, PKI_DIR_HELP, resolvePkiDir } from '../../../certs/defaults.js'

interface InitOptions {
  trustDomain: string
  dir?: string
  force?: boolean
}

export function registerCa(program: Command): void {
  const ca = program.command('ca').description('the root certificate authority of a trust domain')
  ca.command('init')
    .description(
      `create the root CA (ECDSA P-256, valid ${LIFETIME_TEXT.root}); its key is written 0600 and never leaves the PKI directory`,
    )
    .requiredOption('--trust-domain <td>', 'the SPIFFE trust domain, e.g. example.org')
    .option('--dir <dir>', PKI_DIR_HELP)
    .option('--force', 'replace an existing CA (everything it issued stops verifying)')
    .action(async (opts: InitOptions) => {
      const { files } = await initCa({
        dir: resolvePkiDir(opts.dir),
        trustDomain: opts.trustDomain,
        force: opts.force === true,
      })
      for (const f of files) process.stdout.write(`wrote ${f}\n`)
    })
}

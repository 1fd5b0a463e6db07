/**
 * latchctl ca init --trust-domain TD [--dir DIR] [--force]
 * Creates the root CA of a trust domain: ca/root.crt, ca/root.key (0600), ca/trust-domain.
 */
import type { Command } from 'commander'
import { initCa } from '../../../certs/ca.js'
import { retireCa, rotateCa } from '../../../certs/ca-rotate.js'
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
  ca.command('rotate')
    .description(
      'create the next root: ca/root.crt becomes the bundle [new, old] and new certificates are issued from the new root; then re-issue every node (`node renew NODE`) and `ca retire` (README runbook)',
    )
    .option('--dir <dir>', PKI_DIR_HELP)
    .action(async (opts: { dir?: string }) => {
      const { files, serial } = await rotateCa({ dir: resolvePkiDir(opts.dir) })
      for (const f of files) process.stdout.write(`wrote ${f}\n`)
      process.stdout.write(`new root ${serial}: distribute ca/root.crt, then re-issue every node\n`)
    })
  ca.command('retire')
    .description('drop the old root(s) from ca/root.crt once every node is issued by the new one')
    .option('--dir <dir>', PKI_DIR_HELP)
    .option('--force', 'retire even though some nodes still hold certificates of an old root')
    .action(async (opts: { dir?: string; force?: boolean }) => {
      const { files, retired } = await retireCa({ dir: resolvePkiDir(opts.dir), force: opts.force === true })
      for (const f of files) process.stdout.write(`wrote ${f}\n`)
      process.stdout.write(`retired root(s) ${retired.join(', ')}\n`)
    })
}

/**
 * latchctl identity issue SPIFFE_ID --node NODE --ip IP [--ip IP…] [--ttl DURATION] [--dir DIR]
 * latchctl identity inspect FILE [--json] [--dir DIR]
 * latchctl identity list [--json] [--socket PATH]   (asks the running latchd)
 */
import type { Command } from 'commander'
import { assertVerified } from '../../../certs/assert.js'
import { LIFETIME_TEXT, PKI_DIR_HELP, resolvePkiDir } from '../../../certs/defaults.js'
import { formatInspectReport, inspectCertificate } from '../../../certs/inspect.js'
import { issueWorkload } from '../../../certs/workload.js'
import { LatchError } from '../../base/errors.js'
import { fetchStatus, formatIdentities } from '../../control/index.js'
import { controlSocketPath, SOCKET_OPTION_HELP } from '../socket-option.js'

interface IssueOptions {
  node: string
  ip: string[]
  ttl?: string
  dir?: string
}

interface InspectOptions {
  json?: boolean
  dir?: string
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

export function registerIdentity(program: Command): void {
  const identity = program.command('identity').description('workload identities (X.509 SVIDs)')
  identity
    .command('issue')
    .description(
      "issue a workload SVID signed by the node's CA: one URI SAN (the SPIFFE ID), the IPs as IP SANs, " +
        'client+server TLS use; writes svid.crt, svid.key (0600) and chain.pem under ' +
        'nodes/NODE/workloads/<ID path>/ (re-issuing replaces them)',
    )
    .argument('<spiffe-id>', 'e.g. spiffe://example.org/ns/shop/sa/web')
    .requiredOption('--node <node>', 'the node that hosts the workload')
    .option(
      '--ip <ip>',
      "a workload address inside the node's workload CIDRs (required, repeatable)",
      collect,
      [],
    )
    .option(
      '--ttl <duration>',
      `lifetime (default ${LIFETIME_TEXT.workload}, at least ${LIFETIME_TEXT.workloadMin}, at most ${LIFETIME_TEXT.workloadMax}; latchd renews at half-life), e.g. 30m, 24h`,
    )
    .option('--dir <dir>', PKI_DIR_HELP)
    .action(async (spiffeId: string, opts: IssueOptions) => {
      const { files } = await issueWorkload({
        dir: resolvePkiDir(opts.dir),
        spiffeId,
        node: opts.node,
        ips: opts.ip,
        ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
      })
      for (const f of files) process.stdout.write(`wrote ${f}\n`)
    })
  identity
    .command('inspect')
    .description(
      'show a certificate file (SPIFFE ID, IPs, chain, validity) and verify it against the CA in --dir; ' +
        'exits non-zero when it does not verify',
    )
    .argument('<file>', 'a PEM file: svid.crt, chain.pem or node.crt')
    .option('--json', 'one JSON object on stdout')
    .option('--dir <dir>', PKI_DIR_HELP)
    .action(async (file: string, opts: InspectOptions) => {
      const report = await inspectCertificate({ file, dir: resolvePkiDir(opts.dir) })
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatInspectReport(report))
      const v = report.verification
      if (v.ok) return
      if (v.reason === 'no_ca') {
        throw new LatchError('LATCH_ERR_PKI_CA_MISSING', `cannot verify ${file}: ${v.message}`, {
          details: { file },
        })
      }
      assertVerified({ ok: false, reason: v.reason, message: v.message }, file)
    })
  identity
    .command('list')
    .description("the running latchd's local identities: SPIFFE ID, IPs, SVID expiry and next renewal")
    .option('--json', 'one JSON array on stdout')
    .option('--socket <path>', SOCKET_OPTION_HELP)
    .action(async (opts: { json?: boolean; socket?: string }) => {
      const s = await fetchStatus(controlSocketPath(opts.socket))
      const list = s.pairAuth?.identities ?? s.workloads.map((w) => ({ id: w.id, ips: w.ips }))
      process.stdout.write(opts.json ? `${JSON.stringify(list, null, 2)}\n` : formatIdentities(s))
    })
}

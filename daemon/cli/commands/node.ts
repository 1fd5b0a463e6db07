/**
 * latchctl node issue NODE --ip UNDERLAY_IP --workload-cidr CIDR [--workload-cidr CIDR…] [--dir DIR] [--force]
 * Issues the node's certificate (spiffe://TD/latch/node/NODE, IP SAN = underlay IP, signed by the root)
 * and its intermediate CA, name-constrained to the workload CIDRs and the trust domain.
 */
import type { Command } from 'commander'
import { LIFETIME_TEXT, PKI_DIR_HELP, resolvePkiDir } from '../../../certs/defaults.js'
import { issueNode } from '../../../certs/node.js'
import { readNodeInfo } from '../../../certs/state.js'
import { LatchError } from '../../base/errors.js'

interface IssueOptions {
  ip: string
  workloadCidr: string[]
  dir?: string
  force?: boolean
  ttl?: string
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

export function registerNode(program: Command): void {
  const node = program
    .command('node')
    .description('nodes: each has a certificate and a name-constrained CA for its workloads')
  node
    .command('issue')
    .description(
      `issue a node's certificate (valid ${LIFETIME_TEXT.node}) and its intermediate CA (valid ${LIFETIME_TEXT.intermediate}), ` +
        'which can only certify IPs inside the --workload-cidr ranges and IDs in the trust domain',
    )
    .argument('<node>', 'node name: 1-63 of a-z 0-9 "-"')
    .requiredOption('--ip <ip>', "the node's underlay address (IP SAN of its certificate)")
    .option(
      '--workload-cidr <cidr>',
      'a range the node hosts workloads in (required, repeatable)',
      collect,
      [],
    )
    .option('--ttl <duration>', `lifetime of the node certificate (default ${LIFETIME_TEXT.node}), e.g. 7d`)
    .option('--dir <dir>', PKI_DIR_HELP)
    .option('--force', 're-issue an existing node (SVIDs signed by its old CA stop verifying)')
    .action(async (name: string, opts: IssueOptions) => {
      const { files } = await issueNode({
        dir: resolvePkiDir(opts.dir),
        node: name,
        ip: opts.ip,
        workloadCidrs: opts.workloadCidr,
        force: opts.force === true,
        ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
      })
      for (const f of files) process.stdout.write(`wrote ${f}\n`)
    })
  node
    .command('renew')
    .description(
      're-issue an existing node from the current root with its recorded IP and workload CIDRs (node certificate and intermediate, or --only one); a running latchd takes the new files without a restart',
    )
    .argument('<node>', 'node name')
    .option('--only <what>', 'cert (node certificate only) or intermediate (intermediate CA only)')
    .option('--ttl <duration>', `lifetime of the node certificate (default ${LIFETIME_TEXT.node})`)
    .option('--dir <dir>', PKI_DIR_HELP)
    .action(async (name: string, opts: { only?: string; ttl?: string; dir?: string }) => {
      if (opts.only !== undefined && opts.only !== 'cert' && opts.only !== 'intermediate') {
        throw new LatchError(
          'LATCH_ERR_USAGE_BAD_ARGUMENT',
          `--only must be cert or intermediate, got "${opts.only}"`,
        )
      }
      const dir = resolvePkiDir(opts.dir)
      const { info } = await readNodeInfo(dir, name)
      const { files } = await issueNode({
        dir,
        node: info.node,
        ip: info.underlayIp,
        workloadCidrs: [...info.workloadCidrs],
        force: true,
        ...(opts.only === undefined ? {} : { only: opts.only as 'cert' | 'intermediate' }),
        ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }),
      })
      for (const f of files) process.stdout.write(`wrote ${f}\n`)
    })
}

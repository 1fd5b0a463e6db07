/**
 * latchctl workload add SPIFFE_ID --ip IP… (--interface IF | --netns PATH --netns-interface IF)
 *                       [--wait 10s] [--owner NAME] [--json]
 * latchctl workload remove (SPIFFE_ID | --owner NAME) [--json]
 * latchctl workload list [--json]
 * Registers workloads with the running latchd (its control socket): latchd issues the SVID from the
 * node intermediate, attaches the datapath, announces the workload to its peers and authenticates
 * the pairs the policy allows; `--wait` returns once they are authenticated (exit 69 when they were
 * not within the wait: the workload stays registered).
 */
import type { Command } from 'commander'
import { parseDurationMs } from '../../base/duration.js'
import { LatchError } from '../../base/errors.js'
import { table } from '../../control/text-table.js'
import { addWorkload, listWorkloads, removeWorkload } from '../../control/workload-client.js'
import { MAX_WAIT_MS, type WorkloadReport } from '../../wire/workload.js'
import { reportError } from '../report.js'
import { controlSocketPath, SOCKET_OPTION_HELP } from '../socket-option.js'

const socketHelp = SOCKET_OPTION_HELP

function waitMs(v: string): number {
  const ms = parseDurationMs(v)
  if (ms === undefined || ms < 0 || ms > MAX_WAIT_MS) {
    throw new LatchError(
      'LATCH_ERR_USAGE_BAD_ARGUMENT',
      `--wait ${JSON.stringify(v)} must be a duration from 0s to ${MAX_WAIT_MS / 1000}s, e.g. 10s`,
    )
  }
  return ms
}

function pairsText(w: WorkloadReport): string {
  if (w.pairs === undefined) return '-'
  return `${w.pairs.authenticated}/${w.pairs.planned}`
}

function print(list: WorkloadReport[]): void {
  if (list.length === 0) {
    process.stdout.write('no local workloads\n')
    return
  }
  const rows = [['ID', 'IPS', 'INTERFACE', 'SOURCE', 'ATTACHED', 'PAIRS', 'READY']]
  for (const w of list) {
    rows.push([
      w.id,
      w.ips.join(','),
      w.interface ?? '-',
      w.source,
      w.attached === undefined ? '-' : w.attached ? 'yes' : 'NO',
      pairsText(w),
      w.ready ? 'yes' : 'no',
    ])
  }
  process.stdout.write(`${table(rows)}\n`)
}

export function registerWorkload(program: Command): void {
  const wl = program
    .command('workload')
    .description("register this node's workloads with latchd at runtime (what latch-cni does)")
  wl.command('add <spiffe-id>')
    .description('register a workload: SVID issued here, datapath attached, allowed pairs authenticated')
    .requiredOption('--ip <ip...>', "its addresses (inside this node's workload CIDRs)")
    .option('--interface <name>', 'its host-side interface')
    .option('--netns <path>', 'its network namespace (e.g. /run/netns/x), with --netns-interface')
    .option('--netns-interface <name>', 'its interface inside --netns (a veth; latchd finds the host side)')
    .option('--owner <name>', 'who registers it (remove --owner finds it by this)')
    .option('--wait <duration>', 'answer once its allowed pairs are authenticated, at most this long', '10s')
    .option('--json', 'print the registration as JSON')
    .option('--socket <path>', socketHelp)
    .action(
      async (
        id: string,
        o: {
          ip: string[]
          interface?: string
          netns?: string
          netnsInterface?: string
          owner?: string
          wait: string
          json?: boolean
          socket?: string
        },
      ) => {
        const w = await addWorkload(controlSocketPath(o.socket), {
          id,
          ips: o.ip,
          ...(o.interface !== undefined && { interface: o.interface }),
          ...(o.netns !== undefined && { netns: o.netns }),
          ...(o.netnsInterface !== undefined && { netnsInterface: o.netnsInterface }),
          ...(o.owner !== undefined && { owner: o.owner }),
          waitMs: waitMs(o.wait),
        })
        if (o.json) process.stdout.write(`${JSON.stringify(w, null, 2)}\n`)
        else {
          process.stdout.write(`registered ${w.id} (${w.ips.join(', ')}) on ${w.interface ?? '-'}\n`)
          if (w.pairs) process.stdout.write(`  pairs authenticated ${pairsText(w)}\n`)
        }
        if (!w.ready) {
          const e = new LatchError(
            'LATCH_ERR_WORKLOAD_NOT_READY',
            `${w.id} is registered, but ${w.pairs?.pending.length ?? 0} allowed pairs are not authenticated yet: ${w.pairs?.pending.join(', ')}`,
          )
          process.exitCode = reportError(e, o.json === true)
        }
      },
    )
  wl.command('remove [spiffe-id]')
    .description(
      'unregister a workload: its pairs are revoked at once, the datapath detached, its key deleted',
    )
    .option('--owner <name>', 'the workload registered with this --owner')
    .option('--json', 'print the result as JSON')
    .option('--socket <path>', socketHelp)
    .action(async (id: string | undefined, o: { owner?: string; json?: boolean; socket?: string }) => {
      if ((id === undefined) === (o.owner === undefined))
        throw new LatchError('LATCH_ERR_USAGE_BAD_ARGUMENT', 'name the workload: SPIFFE_ID or --owner NAME')
      const r = await removeWorkload(controlSocketPath(o.socket), {
        ...(id !== undefined && { id }),
        ...(o.owner !== undefined && { owner: o.owner }),
      })
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`)
      else
        process.stdout.write(r.removed ? `removed ${r.workload?.id}\n` : `not registered: ${id ?? o.owner}\n`)
    })
  wl.command('list')
    .description("this node's workloads (config and registered), their datapath and pairs")
    .option('--json', 'print as JSON')
    .option('--socket <path>', socketHelp)
    .action(async (o: { json?: boolean; socket?: string }) => {
      const list = await listWorkloads(controlSocketPath(o.socket))
      if (o.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
      else print(list)
    })
}

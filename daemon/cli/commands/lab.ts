/**
 * `latchctl lab up|down|exec|status|etcd`: a whole mesh on one machine (see daemon/lab/).
 */
import { constants } from 'node:os'
import { type Command, InvalidArgumentError } from 'commander'
import { execa } from 'execa'
import { LatchError } from '../../base/errors.js'
import {
  DEFAULT_NODES,
  DEFAULT_WORKLOADS,
  formatLabStatus,
  labCommand,
  labDown,
  labStatus,
  labUp,
  type UpOptions,
} from '../../lab/index.js'
import { registerLabEtcd } from './lab-etcd.js'
import { registerLabWorkload } from './lab-workload.js'

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number')
  return Number(value)
}

function print(json: boolean, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : text())
}

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('a mesh of nodes and workloads in network namespaces on this machine (root)')
    .enablePositionalOptions()

  lab
    .command('up')
    .description(
      'build the lab (idempotent: only what is missing is built; a lab that is up changes nothing): ' +
        'namespaces, underlay bridge, identities (trust domain lab.latch), one latchd per node',
    )
    .option('--nodes <n>', `number of nodes (default: the running lab's, else ${DEFAULT_NODES})`, count)
    .option(
      '--workloads <m>',
      `workloads per node (default: the running lab's, else ${DEFAULT_WORKLOADS})`,
      count,
    )
    .option(
      '--rekey-interval <duration>',
      "latchd PSK rotation period, e.g. 5s (default: the running lab's, else 120s)",
    )
    .option(
      '--enforce',
      'turn on eBPF identity-pair enforcement in every latchd (default: off, a WireGuard-only mesh)',
    )
    .option(
      '--svid-ttl <duration>',
      'lifetime of the SVIDs every latchd issues, renewed at half-life, e.g. 20s (10s … 1d; default: 1h)',
    )
    .option(
      '--pair-auth-ttl <duration>',
      'longest life of an auth entry, re-authenticated at 2/3 of it, e.g. 30s (5s … 1d; default: 10m)',
    )
    .option(
      '--transport <kind>',
      "wireguard or ipsec (ESP through XFRM; needs a kernel with it, e.g. scripts/kernel-lane) (default: the running lab's, else wireguard)",
    )
    .option(
      '--discovery <backend>',
      "file: a peers file per node; etcd: a 3-member etcd cluster in the underlay, every latchd registers and watches (default: the running lab's, else file)",
      discoveryBackend,
    )
    .option('--no-daemons', 'build namespaces and identities but start no latchd')
    .option('--json', 'print the report as JSON')
    .action(
      async (o: {
        nodes?: number
        workloads?: number
        rekeyInterval?: string
        enforce?: boolean
        svidTtl?: string
        pairAuthTtl?: string
        transport?: string
        discovery?: 'file' | 'etcd'
        daemons: boolean
        json?: boolean
      }) => {
        const opts: UpOptions = { daemons: o.daemons, enforce: o.enforce === true }
        if (o.nodes !== undefined) opts.nodes = o.nodes
        if (o.workloads !== undefined) opts.workloads = o.workloads
        if (o.rekeyInterval !== undefined) opts.rekeyInterval = o.rekeyInterval
        if (o.svidTtl !== undefined) opts.svidTtl = o.svidTtl
        if (o.pairAuthTtl !== undefined) opts.pairAuthTtl = o.pairAuthTtl
        if (o.transport !== undefined) {
          if (o.transport !== 'wireguard' && o.transport !== 'ipsec') {
            throw new LatchError(
              'LATCH_ERR_USAGE_BAD_ARGUMENT',
              `--transport must be wireguard or ipsec, got ${JSON.stringify(o.transport)}`,
            )
          }
          opts.transport = o.transport
        }
        if (o.discovery !== undefined) opts.discovery = o.discovery
        const r = await labUp(opts)
        const summary = {
          changed: r.changed,
          actions: r.actions,
          size: r.plan.size,
          rekeyInterval: r.rekeyInterval,
          discovery: r.discovery,
          daemons: r.daemons,
        }
        print(!!o.json, summary, () => {
          const shape = `${r.plan.size.nodes} nodes × ${r.plan.size.workloads} workloads`
          if (!r.changed)
            return `lab up: no change (${shape} already up, ${r.daemons.length} latchd running)\n`
          return `lab up: ${shape}\n${r.actions.map((a) => `  + ${a}\n`).join('')}`
        })
      },
    )

  lab
    .command('down')
    .description('remove everything the lab made: processes, mounts, namespaces, pins, /run/latch-lab')
    .option('--json', 'print the report as JSON')
    .action(async (o: { json?: boolean }) => {
      const r = await labDown()
      print(!!o.json, r, () =>
        r.changed
          ? `lab down: killed ${r.killed.length} processes, unmounted ${r.mounts.length}, removed ${r.netns.length} namespaces${
              r.bpfPins.length ? `, ${r.bpfPins.length} bpf pins` : ''
            }; nothing is left\n`
          : 'lab down: no lab found; nothing to do\n',
      )
    })

  lab
    .command('exec')
    .description("run a command in a node's or workload's network namespace and the node's mount namespace")
    .argument('<target>', 'node (node1) or workload (node1-w2)')
    .argument('<command...>', 'the command and its arguments (put -- before it)')
    .passThroughOptions()
    .action(async (target: string, argv: string[]) => {
      const [cmd, args] = await labCommand(target, argv)
      const r = await execa(cmd, args, { stdio: 'inherit', reject: false })
      if (r.signal) process.exitCode = 128 + (constants.signals[r.signal] ?? 0)
      else process.exitCode = r.exitCode ?? 1
    })

  registerLabWorkload(lab)

  lab
    .command('status')
    .description('nodes, workloads, addresses, each latchd (PID, alive) and its own status')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const s = await labStatus()
      print(!!o.json, s, () => formatLabStatus(s))
    })

  registerLabEtcd(lab, print)
}

function discoveryBackend(value: string): 'file' | 'etcd' {
  if (value !== 'file' && value !== 'etcd') throw new InvalidArgumentError('expected file or etcd')
  return value
}

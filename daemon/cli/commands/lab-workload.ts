/**
 * `latchctl lab workload add|remove|check NODE NAME`: dynamic lab workloads wired by the real CNI
 * chain (ptp + host-local + latch-cni) in NODE's network namespace (daemon/lab/cni-workloads.ts).
 */
import type { Command } from 'commander'
import { labCniAdd, labCniCheck, labCniRemove } from '../../lab/cni-workloads.js'

export function registerLabWorkload(lab: Command): void {
  const wl = lab
    .command('workload')
    .description(
      'dynamic workloads: a namespace wired by ptp + host-local + latch-cni, as a container runtime does',
    )
  wl.command('add <node> <name>')
    .description('create latch-NODE-NAME and run CNI ADD; returns once its allowed pairs are authenticated')
    .option('--ready-timeout <duration>', "latch-cni's wait for the allowed pairs", '10s')
    .option('--on-timeout <what>', 'fail (undo, exit non-zero) or succeed', 'fail')
    .option('--json', 'print the workload and the CNI result as JSON')
    .action(
      async (node: string, name: string, o: { readyTimeout: string; onTimeout: string; json?: boolean }) => {
        const w = await labCniAdd(node, name, {
          readyTimeout: o.readyTimeout,
          onTimeout: o.onTimeout === 'succeed' ? 'succeed' : 'fail',
        })
        process.stdout.write(
          o.json
            ? `${JSON.stringify(w, null, 2)}\n`
            : `lab workload ${w.node}-${w.name}: netns ${w.netns}, ${w.ip}, ${w.spiffeId}\n`,
        )
      },
    )
  wl.command('remove <node> <name>')
    .description('run CNI DEL (latch-cni revokes its pairs, ptp removes the veth) and delete the namespace')
    .action(async (node: string, name: string) => {
      const had = await labCniRemove(node, name)
      process.stdout.write(
        had ? `removed lab workload ${node}-${name}\n` : `no lab workload ${node}-${name}; nothing to do\n`,
      )
    })
  wl.command('check <node> <name>')
    .description('run CNI CHECK through the chain')
    .action(async (node: string, name: string) => {
      await labCniCheck(node, name)
      process.stdout.write(`lab workload ${node}-${name}: CHECK passed\n`)
    })
}

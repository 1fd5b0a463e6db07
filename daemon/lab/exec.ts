/**
 * `latchctl lab exec <node|node-wj> -- CMD…`: runs CMD inside that netns AND the node's mount
 * namespace (so `wg` and wireguard-go see the node's /var/run/wireguard, bpftool its bpffs).
 * nsenter execs CMD, so its exit code is CMD's.
 */
import { existsSync } from 'node:fs'
import { LatchError } from '../base/errors.js'
import { nsenterArgs } from './daemons.js'
import { netnsPath } from './netns.js'
import { type ExecTarget, LAB_STATE_FILE, labPlan, resolveTarget } from './plan.js'
import { readState } from './state.js'
import { requireRoot } from './up.js'

/** Resolves a target of the running lab and checks its namespaces exist. */
export async function labTarget(target: string): Promise<ExecTarget> {
  requireRoot()
  const state = await readState()
  if (!state) throw new LatchError('LATCH_ERR_LAB_NOT_UP', `no lab is up (${LAB_STATE_FILE} is missing)`)
  const t = resolveTarget(labPlan(state.size), target)
  for (const file of [netnsPath(t.netns), t.node.mountNsFile]) {
    if (!existsSync(file)) {
      throw new LatchError(
        'LATCH_ERR_LAB_NOT_UP',
        `${target} is not built (${file} is missing); the lab is half up`,
        {
          details: { target, missing: file },
        },
      )
    }
  }
  return t
}

/** The command (nsenter + argv) that runs `argv` in `target`. */
export async function labCommand(target: string, argv: readonly string[]): Promise<[string, string[]]> {
  if (argv.length === 0) {
    throw new LatchError(
      'LATCH_ERR_USAGE_BAD_ARGUMENT',
      'give the command to run after --, e.g. lab exec node1 -- wg show',
    )
  }
  const t = await labTarget(target)
  return ['nsenter', nsenterArgs(t.netns, t.node, argv)]
}

import type { Command } from 'commander'
import { registerCa } from './ca.js'
import { registerDebug } from './debug.js'
import { registerIdentity } from './identity.js'
import { registerLab } from './lab.js'
import { registerMonitor } from './monitor.js'
import { registerNode } from './node.js'
import { registerPolicy } from './policy.js'
import { registerStatus } from './status.js'
import { registerWorkload } from './workload.js'

/**
 * Every command group registers itself here, one line each. Keep the list in the order `--help`
 * should show it.
 */
export function registerCommands(program: Command): void {
  registerCa(program)
  registerNode(program)
  registerIdentity(program)
  registerPolicy(program)
  registerLab(program)
  registerStatus(program)
  registerWorkload(program)
  registerMonitor(program)
  registerDebug(program)
  // registerCa(program), registerNode(program), registerIdentity(program), registerLab(program), …
}

import type { Command } from 'commander'
import { registerPolicy } from './policy.js'

/**
 * Every command group registers itself here, one line each. Keep the list in the order `--help`
 * should show it.
 */
export function registerCommands(program: Command): void {
  registerPolicy(program)
  // registerCa(program), registerNode(program), registerIdentity(program), registerLab(program), …
}

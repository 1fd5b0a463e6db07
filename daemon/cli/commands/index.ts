import type { Command } from 'commander'

/**
 * Every command group registers itself here, one line each. Keep the list in the order `--help`
 * should show it.
 */
export function registerCommands(_program: Command): void {
  // registerCa(program), registerNode(program), registerIdentity(program), registerLab(program), …
}

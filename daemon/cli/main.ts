#!/usr/bin/env node
/**
 * latchctl: the operator's command line. Each command group lives in its own file under
 * cli/commands/ and registers itself on the program; this file only wires them up and turns
 * errors into a message, a fix and an exit code from the one registry (daemon/base/errors.ts).
 */
import { Command, CommanderError } from 'commander'
import { registerCommands } from './commands/index.js'
import { reportError } from './report.js'

export function buildProgram(): Command {
  const program = new Command('latchctl')
    .description('latch: mutual authentication and encryption for any protocol between workloads')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride()
  registerCommands(program)
  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv, { from: 'user' })
    return process.exitCode === undefined ? 0 : Number(process.exitCode)
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version end here with exit code 0; usage errors were already printed by commander
      return err.exitCode === 0 ? 0 : 64
    }
    return reportError(err, argv.includes('--json'))
  }
}

const exitCode = await main(process.argv.slice(2))
process.exitCode = exitCode

#!/usr/bin/env node
/**
 * latchd: the per-node daemon.
 *
 *   latchd --config FILE      (default $LATCH_CONFIG or /etc/latch/latchd.yaml)
 *   latchd --check --config FILE   validate the config and exit
 *
 * Logs are pino JSON lines on stdout. SIGTERM/SIGINT stop it gracefully, leaving WireGuard in place
 * for the next start to re-adopt. Errors end it with the registry's exit code and a fix.
 */
import { parseArgs } from 'node:util'
import { asLatchError, LatchError } from './base/errors.js'
import { loadConfig } from './config/load.js'
import { startDaemon } from './node/daemon.js'
import { createLogger } from './observe/logger.js'

const DEFAULT_CONFIG = '/etc/latch/latchd.yaml'

function fatal(err: unknown): number {
  const e = asLatchError(err)
  process.stderr.write(`latchd: error ${e.code}: ${e.message}\n  fix: ${e.fix}\n`)
  if (e.code === 'LATCH_ERR_INTERNAL_BUG' && e.cause instanceof Error && e.cause.stack) {
    process.stderr.write(`${e.cause.stack}\n`)
  }
  return e.exitCode
}

async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseOptions>
  try {
    args = parseOptions(argv)
  } catch (err) {
    return fatal(new LatchError('LATCH_ERR_USAGE_BAD_ARGUMENT', (err as Error).message))
  }
  if (args.help) {
    process.stdout.write('usage: latchd [--config FILE] [--check]\n')
    return 0
  }
  const file = args.config ?? process.env['LATCH_CONFIG'] ?? DEFAULT_CONFIG
  const config = await loadConfig(file)
  if (args.check) {
    process.stdout.write(`OK ${file}: node ${config.node}, trust domain ${config.trustDomain}\n`)
    return 0
  }
  const logger = createLogger({ level: config.log.level, node: config.node })
  const daemon = await startDaemon({ config, logger })
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ event: 'signal', signal }, `${signal}: stopping`)
      daemon.stop().then(resolve, (err) => {
        logger.error({ event: 'stop_failed', err }, 'graceful stop failed')
        resolve()
      })
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
  return 0
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }).values
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
    // everything is closed; should a library still hold the loop open, do not hang a stop
    setTimeout(() => process.exit(code), 3000).unref()
  },
  (err) => {
    process.exitCode = fatal(err)
  },
)

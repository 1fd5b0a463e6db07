#!/usr/bin/env node
/**
 * latchd: the per-node daemon.
 *
 *   latchd --config FILE      (default $LATCH_CONFIG or /etc/latch/latchd.yaml)
 *   latchd --check --config FILE   validate the config and exit
 *
 * Logs are pino JSON lines on stdout. SIGTERM/SIGINT stop it gracefully, leaving WireGuard in place
 * for the next start to re-adopt. SIGHUP re-reads the policy, peers and PKI files now (and reports
 * config keys that need a restart). Under systemd (Type=notify, $NOTIFY_SOCKET) it sends READY=1
 * when start-up has finished, RELOADING=1/READY=1 around a SIGHUP, STOPPING=1, and WATCHDOG=1
 * pings when the unit has WatchdogSec (daemon/node/systemd.ts). Errors end it with the registry's
 * exit code and a fix.
 */
import { parseArgs } from 'node:util'
import { asLatchError, LatchError } from './base/errors.js'
import { scaled } from './base/time-scale.js'
import { loadConfig } from './config/load.js'
import { type Daemon, startDaemon } from './node/daemon.js'
import { type SystemdNotifier, systemdNotifier } from './node/systemd.js'
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
  const systemd = systemdNotifier()
  const daemon = await startDaemon({ config, logger })
  const notifyFailed = (err: unknown) => {
    const e = asLatchError(err)
    logger.error({ event: 'sd_notify_failed', code: e.code }, e.message)
  }
  const notify = (fn: (s: SystemdNotifier) => void) => {
    try {
      fn(systemd)
    } catch (err) {
      notifyFailed(err)
    }
  }
  notify((s) => s.ready(readyStatus(daemon)))
  const stopWatchdog = systemd.startWatchdog(notifyFailed)
  if (systemd.enabled) {
    logger.info(
      { event: 'systemd_ready', watchdogMs: systemd.watchdogMs },
      `told systemd READY=1${systemd.watchdogMs ? `; watchdog pings every ${systemd.watchdogMs / 2} ms` : ''}`,
    )
  }
  let reloading = Promise.resolve()
  const onHup = () => {
    reloading = reloading.then(async () => {
      logger.info({ event: 'signal', signal: 'SIGHUP' }, 'SIGHUP: reloading')
      notify((s) => s.reloading('reloading policy, peers and PKI files'))
      const r = await daemon.reload(file).catch((err) => {
        notifyFailed(err)
        return undefined
      })
      const note =
        r === undefined
          ? 'reload failed (see the log)'
          : r.configError
            ? `config not re-read (${r.configError})`
            : r.restartNeeded.length
              ? `config keys ${r.restartNeeded.join(', ')} need a restart`
              : ''
      notify((s) => s.ready(`${readyStatus(daemon)}${note ? `; ${note}` : ''}`))
    })
  }
  process.on('SIGHUP', onHup)
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ event: 'signal', signal }, `${signal}: stopping`)
      process.off('SIGHUP', onHup)
      stopWatchdog()
      notify((s) => s.stopping('stopping; WireGuard stays up for the next start'))
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

/** The STATUS= line systemctl status shows: node, handshake port, peers. */
function readyStatus(d: Daemon): string {
  const peers = d.mesh.snapshot().length
  return `node ${d.config.node} listening on ${d.listenPort}; ${peers} peer${peers === 1 ? '' : 's'} configured`
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
    setTimeout(() => process.exit(code), scaled(3000)).unref()
  },
  (err) => {
    process.exitCode = fatal(err)
  },
)

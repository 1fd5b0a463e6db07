/**
 * latchctl monitor [--json] [--socket PATH]
 * Live datapath events from the local latchd (it is the ring buffer's one reader): auth-required
 * (a packet had no valid auth entry) and drops with their reason, until Ctrl-C.
 */
import type { Command } from 'commander'
import { monitorEvents } from '../../control/datapath-client.js'
import { formatMonitorEvent } from '../../wire/monitor.js'
import { controlSocketPath, SOCKET_OPTION_HELP } from '../socket-option.js'

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description('print live auth-required and drop events of this node until Ctrl-C (asks latchd)')
    .option('--json', 'one JSON object per event and line')
    .option('--socket <path>', SOCKET_OPTION_HELP)
    .action(async (opts: { json?: boolean; socket?: string }) => {
      const abort = new AbortController()
      const stop = () => abort.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        await monitorEvents(
          controlSocketPath(opts.socket),
          (e) => process.stdout.write(opts.json ? `${JSON.stringify(e)}\n` : formatMonitorEvent(e)),
          abort.signal,
          () => {
            if (!opts.json) process.stderr.write('monitoring datapath events (Ctrl-C to stop)\n')
          },
        )
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    })
}

/**
 * latchctl monitor [--json] [--socket PATH]
 * Live datapath events from the local latchd (it is the ring buffer's one reader): auth-required
 * (a packet had no valid auth entry) and drops with their reason, until Ctrl-C.
 */
import type { Command } from 'commander'
import { monitorEvents } from '../../control/datapath-client.js'
import { DEFAULT_CONTROL_SOCKET } from '../../control/index.js'
import { formatMonitorEvent } from '../../engine/datapath-events.js'
import { controlSocketPath } from './status.js'

export function registerMonitor(program: Command): void {
  program
    .command('monitor')
    .description('print live auth-required and drop events of this node until Ctrl-C (asks latchd)')
    .option('--json', 'one JSON object per event and line')
    .option(
      '--socket <path>',
      `latchd control socket (default $LATCH_CONTROL_SOCKET or ${DEFAULT_CONTROL_SOCKET})`,
    )
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

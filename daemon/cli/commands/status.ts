/**
 * latchctl status [--json] [--socket PATH]
 * What the local latchd is doing: this node, each peer (state, last handshake, endpoint, PSK age,
 * refusal reason), WireGuard transfer counters, local workloads. Asks latchd over its control socket
 * (--socket, else $LATCH_CONTROL_SOCKET, else /run/latch/latchd.sock).
 */
import type { Command } from 'commander'
import { fetchStatus, formatStatus } from '../../control/index.js'
import { controlSocketPath, SOCKET_OPTION_HELP } from '../socket-option.js'

interface StatusOptions {
  json?: boolean
  socket?: string
  timeout: string
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      "show this node's peers, handshakes, PSK ages, refusals and WireGuard counters (asks latchd)",
    )
    .option('--json', 'print the full report as one JSON object')
    .option('--socket <path>', SOCKET_OPTION_HELP)
    .option('--timeout <ms>', 'how long to wait for latchd', '5000')
    .action(async (opts: StatusOptions) => {
      const status = await fetchStatus(controlSocketPath(opts.socket), Number(opts.timeout) || 5000)
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status))
    })
}

/**
 * latchctl debug auth add SRC_ID DST_ID [--ttl 1h] [--both]
 * latchctl debug auth del SRC_ID DST_ID [--both]
 * latchctl debug auth list [--json]
 * Writes the datapath's auth entries by hand, through the local latchd (its control socket): the
 * daemon owns the identity ids, so SPIFFE IDs go in. An entry (SRC, DST) lets packets from SRC
 * reach DST on THIS node; a flow needs each node's direction towards its own workload.
 */
import type { Command } from 'commander'
import { parseDurationMs } from '../../base/duration.js'
import { LatchError } from '../../base/errors.js'
import { authRequest } from '../../control/datapath-client.js'
import { MAX_DEBUG_TTL_MS } from '../../wire/datapath-control.js'
import type { AuthEntryReport } from '../../wire/status.js'
import { controlSocketPath, SOCKET_OPTION_HELP } from '../socket-option.js'

interface CommonOptions {
  socket?: string
  both?: boolean
  json?: boolean
}

function ttlMs(v: string): number {
  const ms = parseDurationMs(v)
  if (ms === undefined || ms < 1000 || ms > MAX_DEBUG_TTL_MS) {
    throw new LatchError(
      'LATCH_ERR_DATAPATH_BAD_REQUEST',
      `--ttl ${JSON.stringify(v)} must be a duration from 1s to 7d, e.g. 30s, 10m, 1h`,
    )
  }
  return ms
}

function print(entries: AuthEntryReport[], json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`)
    return
  }
  if (entries.length === 0) process.stdout.write('no auth entries\n')
  for (const e of entries)
    process.stdout.write(`${e.src} -> ${e.dst} until ${e.expiresAt}${e.expired ? ' (expired)' : ''}\n`)
}

export function registerDebug(program: Command): void {
  const debug = program.command('debug').description('inspect and hand-edit the local datapath (asks latchd)')
  const auth = debug
    .command('auth')
    .description('auth entries (source identity, destination identity) → expiry')
  auth
    .command('add <src> <dst>')
    .description('let packets from workload SRC reach workload DST on this node until the TTL ends')
    .option('--ttl <duration>', 'how long the entry lives (1s … 7d)', '1h')
    .option('--both', 'also DST → SRC')
    .option('--json', 'print the written entries as JSON')
    .option('--socket <path>', SOCKET_OPTION_HELP)
    .action(async (src: string, dst: string, opts: CommonOptions & { ttl: string }) => {
      const entries = await authRequest(controlSocketPath(opts.socket), {
        cmd: 'auth_add',
        src,
        dst,
        ttlMs: ttlMs(opts.ttl),
        both: opts.both === true,
      })
      print(entries, opts.json)
    })
  auth
    .command('del <src> <dst>')
    .description('delete the entry SRC → DST at once (no error when absent)')
    .option('--both', 'also DST → SRC')
    .option('--json', 'print the remaining entries as JSON')
    .option('--socket <path>', SOCKET_OPTION_HELP)
    .action(async (src: string, dst: string, opts: CommonOptions) => {
      const rest = await authRequest(controlSocketPath(opts.socket), {
        cmd: 'auth_del',
        src,
        dst,
        both: opts.both === true,
      })
      if (!opts.json)
        process.stdout.write(`deleted ${src} -> ${dst}${opts.both ? ' (both directions)' : ''}\n`)
      else print(rest, true)
    })
  auth
    .command('list')
    .description('every auth entry of this node with its expiry')
    .option('--json', 'print as JSON')
    .option('--socket <path>', SOCKET_OPTION_HELP)
    .action(async (opts: CommonOptions) => {
      print(await authRequest(controlSocketPath(opts.socket), { cmd: 'auth_list' }), opts.json)
    })
}

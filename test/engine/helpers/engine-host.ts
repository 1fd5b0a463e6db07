/**
 * Runs one real Engine (ProcessRunner + RtNetlinkPort) inside whatever network and mount namespace
 * this process was started in, driven by JSON lines on stdin; answers one JSON line per request
 * on stdout. Logs go to stderr. Used by the netns tests: the test process itself cannot enter a
 * network namespace, a child started with `ip netns exec … unshare -m …` can.
 *
 * Request: {"op": "start"|"upsert"|"upsertMany"|"remove"|"flush"|"status"|"transcript"|"stop", …};
 * upsert/upsertMany/remove with "flush": true flush in the same tick (as latchd does) and return the
 * reconcile result — separate messages would let the coalescing timer run first.
 * Reply:   {"ok": true, "value": …} | {"ok": false, "code": "...", "message": "..."}
 */
import { createInterface } from 'node:readline'
import { destination, pino } from 'pino'
import { asLatchError } from '../../../daemon/base/errors.js'
import {
  createEngine,
  type Engine,
  type PeerSession,
  type WireguardOptions,
} from '../../../daemon/engine/index.js'
import { ProcessRunner, type RunOptions, type RunResult } from '../../../daemon/transport/runner.js'

class CountingRunner extends ProcessRunner {
  readonly transcript: string[] = []
  override run(cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.transcript.push([cmd, ...args.slice(0, 3)].join(' '))
    return super.run(cmd, args, options)
  }
}

const logger = pino({ level: process.env.LATCH_TEST_LOG ?? 'warn' }, destination(2))
const runner = new CountingRunner()
let engine: Engine | undefined

type Req = {
  /** With upsert/upsertMany/remove: flush in the same tick and return its result. */
  flush?: boolean
  op: string
  wireguard?: WireguardOptions
  adoptGraceMs?: number
  session?: PeerSession
  sessions?: PeerSession[]
  name?: string
}

async function handle(req: Req): Promise<unknown> {
  const revive = (s: PeerSession): PeerSession => ({ ...s, establishedAt: new Date(s.establishedAt) })
  switch (req.op) {
    case 'start':
      engine = createEngine({
        wireguard: req.wireguard as WireguardOptions,
        logger,
        runner,
        ...(req.adoptGraceMs === undefined ? {} : { adoptGraceMs: req.adoptGraceMs }),
      })
      return engine.start()
    case 'upsert':
      engine?.upsertPeer(revive(req.session as PeerSession))
      return req.flush ? engine?.flush() : null
    case 'upsertMany':
      for (const s of req.sessions ?? []) engine?.upsertPeer(revive(s))
      return req.flush ? engine?.flush() : null
    case 'remove':
      engine?.removePeer(req.name ?? '')
      return req.flush ? engine?.flush() : null
    case 'flush':
      return engine?.flush()
    case 'status':
      return engine?.status()
    case 'transcript':
      return runner.transcript.splice(0)
    case 'stop':
      await engine?.stop()
      return null
    default:
      throw new Error(`unknown op ${req.op}`)
  }
}

const rl = createInterface({ input: process.stdin })
for await (const line of rl) {
  try {
    const value = await handle(JSON.parse(line) as Req)
    process.stdout.write(`${JSON.stringify({ ok: true, value })}\n`)
  } catch (err) {
    const e = asLatchError(err)
    process.stdout.write(`${JSON.stringify({ ok: false, code: e.code, message: e.message })}\n`)
  }
}

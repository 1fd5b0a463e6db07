/**
 * A legitimate peer's re-handshake, timed: the dialer's latchd is killed with SIGKILL, the lab starts
 * it again, and its first session with the peer is read from its log. Used by test/e2e/hostile.test.ts
 * and scripts/bench-rehandshake.
 */
import { labUp, type UpOptions } from '../../../daemon/lab/index.js'
import { labPids, logLines, sleep, until } from './poll.js'

export interface Rehandshake {
  /** The dialer's handshake with the peer: TCP connect to session, as it logged it (`durationMs`). */
  handshakeMs: number
  /** From the dialer's first log line after the restart to that session. */
  fromStartMs: number
}

export interface RehandshakeOptions {
  dialer: string
  peer: string
  /** The dialer's latchd log. */
  logFile: string
  /** labUp's options for the restart (those the lab runs with). */
  up: UpOptions
  /** Runs after the kill, before the restart. */
  between?: () => Promise<void>
  /** How long the session may take (default 30 s). */
  ms?: number
}

export async function rehandshake(o: RehandshakeOptions): Promise<Rehandshake> {
  const before = (await logLines(o.logFile)).length
  process.kill((await labPids())[o.dialer]!, 'SIGKILL')
  await sleep(300)
  await o.between?.()
  await labUp(o.up)
  return until(
    `${o.dialer} to re-establish its session with ${o.peer}`,
    async () => {
      const lines = (await logLines(o.logFile)).slice(before)
      const ok = lines.find((l) => l.event === 'handshake_ok' && l.peer === o.peer)
      if (!ok || !lines[0]) return undefined
      return {
        handshakeMs: ok.durationMs ?? -1,
        fromStartMs: Date.parse(ok.time) - Date.parse(lines[0].time),
      }
    },
    o.ms ?? 30_000,
  )
}

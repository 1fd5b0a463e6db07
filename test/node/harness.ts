/** Meshes of real handshakes on 127.0.0.1 with a manual clock and recording engines. */
import { pino } from 'pino'
import type { PeerEntry } from '../../daemon/discovery/index.js'
import { DEFAULT_TIMING, dialPeer, HandshakeServer, type LocalNode } from '../../daemon/handshake/index.js'
import { Mesh } from '../../daemon/node/mesh.js'
import type { FakeClock } from '../base/fake-clock.js'
import type { HandshakePki } from '../handshake/fixture.js'
import { RecordingEngine } from './recording-engine.js'

export interface TestNode {
  name: string
  local: LocalNode
  mesh: Mesh
  engine: RecordingEngine
  server: HandshakeServer
  port: number
  entry: PeerEntry
}

export const REKEY_MS = 10_000
export const GRACE_MS = 60_000

export async function startNode(
  pki: HandshakePki,
  spec: { name: string; index: number },
  clock: FakeClock,
  overrides: Partial<LocalNode> = {},
): Promise<TestNode> {
  const local = await pki.local(spec, overrides)
  const engine = new RecordingEngine()
  const mesh = new Mesh({
    self: spec.name,
    trustDomain: pki.trustDomain,
    dial: (peer) => dialPeer({ local, peer, timing: DEFAULT_TIMING }),
    engine,
    clock,
    rekeyIntervalMs: REKEY_MS,
    gracePeriodMs: GRACE_MS,
    logger: pino({ level: 'silent' }),
    random: () => 1,
  })
  const server = new HandshakeServer({
    local,
    isKnownPeer: (n) => mesh.has(n),
    onOutcome: (o) => mesh.inbound(o),
  })
  const { port } = await server.listen('127.0.0.1', 0)
  return {
    name: spec.name,
    local,
    mesh,
    engine,
    server,
    port,
    entry: { name: spec.name, address: '127.0.0.1', port },
  }
}

export async function stopNode(n: TestNode | undefined): Promise<void> {
  if (!n) return
  n.mesh.stop(false)
  await n.server.close(true)
}

export function waitFor<T>(f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const until = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = f()
      if (v !== undefined && v !== false) return resolve(v)
      if (Date.now() > until) return reject(new Error(`condition not met within ${ms} ms`))
      setTimeout(tick, 10)
    }
    tick()
  })
}

import test from 'ava'
import { FakeClock } from '../base/fake-clock.js'
import { HandshakePki } from '../handshake/fixture.js'
import { GRACE_MS, REKEY_MS, startNode, stopNode, type TestNode, waitFor } from './harness.js'

const n1 = { name: 'node1', index: 1 }
const n2 = { name: 'node2', index: 2 }

let pki: HandshakePki
test.before(async () => {
  pki = await HandshakePki.create()
  await pki.issue(n1)
  await pki.issue(n2)
})
test.after.always(async () => pki?.remove())

async function pair(clock = new FakeClock()) {
  const a = await startNode(pki, n1, clock)
  const b = await startNode(pki, n2, clock)
  return { a, b, clock }
}

function peerOf(n: TestNode, name: string) {
  return n.mesh.snapshot().find((p) => p.name === name)!
}

test('the node with the lower name dials; both program the same PSK', async (t) => {
  const { a, b } = await pair()
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(
      () => peerOf(a, 'node2').state === 'established' && peerOf(b, 'node1').state === 'established',
    )
    t.is(peerOf(a, 'node2').role, 'dialer')
    t.is(peerOf(b, 'node1').role, 'acceptor')
    const [sa] = a.engine.upserts('node2')
    const [sb] = b.engine.upserts('node1')
    t.truthy(sa)
    t.is(sa!.presharedKey, sb!.presharedKey)
    t.is(sa!.wgPublicKey, b.local.wgPublicKey)
    t.is(sb!.wgPublicKey, a.local.wgPublicKey)
    t.deepEqual(sa!.workloadCidrs, ['10.100.2.0/24'])
    t.is(sa!.tunnelAddress, '10.101.0.2/32')
    t.is(a.engine.upserts('node2').length, 1, 'exactly one session: the acceptor never dials')
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

test('every rekey interval the dialer re-handshakes and both sides get a new PSK, make before break', async (t) => {
  const { a, b, clock } = await pair()
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(() => b.engine.upserts('node1').length === 1)
    for (let i = 1; i <= 3; i++) {
      clock.advance(REKEY_MS)
      await waitFor(
        () => a.engine.upserts('node2').length === i + 1 && b.engine.upserts('node1').length === i + 1,
      )
    }
    const pa = a.engine.upserts('node2').map((s) => s.presharedKey)
    const pb = b.engine.upserts('node1').map((s) => s.presharedKey)
    t.deepEqual(pa, pb)
    t.is(new Set(pa).size, 4, 'four handshakes, four different PSKs')
    t.is(a.engine.removals('node2') + b.engine.removals('node1'), 0, 'the tunnel was never removed')
    t.is(peerOf(a, 'node2').rotations, 3)
    await waitFor(() => peerOf(b, 'node1').rotations === 3)
    t.is(peerOf(b, 'node1').state, 'established', 'closing the superseded connection is not a loss')
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

test('an unreachable peer is retried with exponential backoff capped at 30 s', async (t) => {
  const clock = new FakeClock()
  const a = await startNode(pki, n1, clock)
  try {
    a.mesh.setPeers([{ name: 'node2', address: '127.0.0.1', port: 1 }])
    const delays: number[] = []
    for (let i = 0; i < 9; i++) {
      await waitFor(
        () => peerOf(a, 'node2').state === 'backoff' && clock.pending().length > 0 && a.mesh.snapshot(),
      )
      const s = peerOf(a, 'node2')
      t.is(s.lastError?.reason, 'unreachable')
      const delay = s.nextAttemptAt!.getTime() - clock.now()
      delays.push(delay)
      clock.advance(delay)
      await waitFor(() => peerOf(a, 'node2').nextAttemptAt?.getTime() !== clock.now() + delay || undefined)
    }
    // random() = 1 → the top of each [d/2, d] window
    t.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
    t.is(a.engine.calls.length, 0)
  } finally {
    await stopNode(a)
  }
})

test('a lost control connection keeps the tunnel for the grace period, then removes it', async (t) => {
  const { a, b, clock } = await pair()
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(() => peerOf(b, 'node1').state === 'established')
    await waitFor(() => peerOf(a, 'node2').state === 'established')
    const before = peerOf(a, 'node2')
    // node2's daemon dies: its listener and connections go away
    await stopNode(b)
    await waitFor(() => peerOf(a, 'node2').tunnel === 'grace')
    t.is(a.engine.removals('node2'), 0)
    t.truthy(peerOf(a, 'node2').graceUntil)
    await waitFor(() => peerOf(a, 'node2').state === 'backoff')
    // the tunnel still carries the last session's addresses: what it said about the peer stays
    const inGrace = peerOf(a, 'node2')
    t.truthy(before.tunnelAddress)
    t.is(inGrace.tunnelAddress, before.tunnelAddress)
    t.deepEqual(inGrace.workloadCidrs, before.workloadCidrs)
    t.deepEqual(inGrace.workloads, before.workloads)
    clock.advance(GRACE_MS)
    await waitFor(() => a.engine.removals('node2') === 1)
    t.is(peerOf(a, 'node2').tunnel, 'down')
    t.is(peerOf(a, 'node2').tunnelAddress, undefined)
    t.is(peerOf(a, 'node2').workloads, undefined)
  } finally {
    await stopNode(a)
  }
})

test('a peer that comes back within the grace period is re-authenticated with a new PSK, tunnel never removed', async (t) => {
  const clock = new FakeClock()
  const a = await startNode(pki, n1, clock)
  let b = await startNode(pki, n2, clock)
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(() => a.engine.upserts('node2').length === 1)
    const first = a.engine.upserts('node2')[0]!.presharedKey
    const port = b.port
    await stopNode(b)
    await waitFor(() => peerOf(a, 'node2').state === 'backoff')
    // the restarted daemon listens on the same port again
    b = await startNode(pki, n2, clock)
    await b.server.close()
    let peersLoaded = false
    const again = new (await import('../../daemon/handshake/index.js')).HandshakeServer({
      local: b.local,
      isKnownPeer: (n) => b.mesh.has(n),
      peersLoaded: () => peersLoaded,
      onOutcome: (o) => b.mesh.inbound(o),
    })
    await again.listen('127.0.0.1', port)
    b = { ...b, server: again, port }
    // node1 dials while the restarted node2 listens but has not loaded its peers: `starting`, the
    // tunnel stays (an unknown_peer here would remove it)
    clock.advance(peerOf(a, 'node2').nextAttemptAt!.getTime() - clock.now())
    await waitFor(() => peerOf(a, 'node2').refusal?.reason === 'starting')
    t.is(a.engine.removals('node2'), 0, 'a starting peer does not cost the tunnel')
    t.not(peerOf(a, 'node2').tunnel, 'down')
    peersLoaded = true
    b.mesh.setPeers([a.entry])
    clock.advance(peerOf(a, 'node2').nextAttemptAt!.getTime() - clock.now())
    await waitFor(() => a.engine.upserts('node2').length === 2 && b.engine.upserts('node1').length === 1)
    t.not(a.engine.upserts('node2')[1]!.presharedKey, first)
    t.is(a.engine.upserts('node2')[1]!.presharedKey, b.engine.upserts('node1')[0]!.presharedKey)
    t.is(a.engine.removals('node2'), 0)
    t.is(peerOf(a, 'node2').tunnel, 'up')
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

test('a refusal removes the tunnel at once and shows the reason on both sides', async (t) => {
  const { a, b, clock } = await pair()
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(() => a.engine.upserts('node2').length === 1 && b.engine.upserts('node1').length === 1)
    // node2 drops node1 from its peers file: the next re-handshake is refused
    b.mesh.setPeers([])
    await waitFor(() => peerOf(a, 'node2').tunnel === 'grace' || peerOf(a, 'node2').state === 'refused')
    await waitFor(() => peerOf(a, 'node2').state === 'refused')
    const s = peerOf(a, 'node2')
    t.is(s.refusal?.reason, 'unknown_peer')
    t.is(s.refusal?.by, 'peer')
    t.is(s.tunnel, 'down')
    t.is(a.engine.removals('node2'), 1)
    t.is(b.engine.removals('node1'), 1, 'node2 removed node1 when it left its peers file')
    t.true(s.nextAttemptAt!.getTime() > clock.now(), 'refused peers are retried with backoff')
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

test('a refusal of a peer whose identity is unproven never touches an established tunnel', async (t) => {
  const { a, b } = await pair()
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(() => b.engine.upserts('node1').length === 1)
    b.mesh.inbound({
      ok: false,
      role: 'server',
      peer: 'node1',
      peerUnverified: true,
      refusal: { reason: 'cert_unknown_issuer', message: 'someone claiming node1', by: 'local' },
      durationMs: 1,
    })
    const s = peerOf(b, 'node1')
    t.is(s.state, 'established')
    t.is(s.tunnel, 'up')
    t.is(s.refusal?.reason, 'cert_unknown_issuer')
    t.true(s.refusal?.unverified)
    t.is(b.engine.removals('node1'), 0)
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

test('peers whose files disagree: the acceptor waits and says so', async (t) => {
  const { a, b } = await pair()
  try {
    b.mesh.setPeers([a.entry]) // node1 does not list node2
    a.mesh.setPeers([])
    t.is(peerOf(b, 'node1').state, 'awaiting')
    t.is(b.engine.calls.length, 0)
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

test("a session ends when the peer's certificate expires: tunnel removed, reason cert_expired", async (t) => {
  const { a, b, clock } = await pair()
  try {
    b.mesh.setPeers([a.entry])
    a.mesh.setPeers([b.entry])
    await waitFor(() => b.engine.upserts('node1').length === 1)
    const notAfter = (await import('node:crypto')).X509Certificate
    const left = Date.parse(new notAfter(a.local.certPem).validTo) - clock.now()
    await b.server.close(true) // keep node1 from simply re-handshaking with node2's still-valid certificate
    clock.advance(left + 1)
    t.is(peerOf(b, 'node1').refusal?.reason, 'cert_expired')
    t.is(peerOf(b, 'node1').tunnel, 'down')
    t.is(b.engine.removals('node1'), 1)
  } finally {
    await stopNode(a)
    await stopNode(b)
  }
})

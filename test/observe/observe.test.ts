import { Writable } from 'node:stream'
import test from 'ava'
import { createLogger, DaemonMetrics } from '../../daemon/observe/index.js'

function capture() {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      cb()
    },
  })
  return { lines, destination }
}

test('key-ish fields are redacted at the top level and one level down', (t) => {
  const { lines, destination } = capture()
  const log = createLogger({ level: 'info', node: 'node1', destination })
  const secret = 'c2VjcmV0LXByZXNoYXJlZC1rZXktMzItYnl0ZXMtbG9uZz0='
  log.info(
    { presharedKey: secret, session: { presharedKey: secret, privateKey: secret, keyPem: secret } },
    'x',
  )
  log.info({ psk: secret, peer: 'node2' }, 'y')
  t.is(lines.length, 2)
  for (const l of lines) t.false(l.includes(secret), l)
  const first = JSON.parse(lines[0]!)
  t.is(first.presharedKey, '[redacted]')
  t.is(first.session.privateKey, '[redacted]')
  t.is(first.node, 'node1')
  t.is(first.level, 'info')
  t.is(JSON.parse(lines[1]!).peer, 'node2')
})

test('below the active level nothing is written', (t) => {
  const { lines, destination } = capture()
  const log = createLogger({ level: 'warn', destination })
  log.info('quiet')
  log.debug({ a: 1 }, 'quieter')
  t.is(lines.length, 0)
})

test('metrics expose handshakes by result, latency and peers by state', async (t) => {
  const m = new DaemonMetrics({
    peerStates: () => ({ established: 2, refused: 1 }),
    wireguardBytes: async () => [{ peer: 'node2', rxBytes: 10, txBytes: 20 }],
  })
  m.handshakeDone('client', 'ok', '', 0.004)
  m.handshakeDone('server', 'refused', 'cert_unknown_issuer')
  const server = await m.listen('127.0.0.1', 0)
  try {
    const addr = { port: server.port }
    const res = await fetch(`http://127.0.0.1:${addr.port}/metrics`)
    t.is(res.status, 200)
    const body = await res.text()
    t.regex(body, /latch_handshakes_total\{result="ok",reason="",role="client"\} 1/)
    t.regex(body, /latch_handshakes_total\{result="refused",reason="cert_unknown_issuer",role="server"\} 1/)
    t.regex(body, /latch_handshake_duration_seconds_bucket\{le="0.005",role="client"\} 1/)
    t.regex(body, /latch_peers\{state="established"\} 2/)
    t.regex(body, /latch_wireguard_peer_bytes\{peer="node2",direction="tx"\} 20/)
    t.is((await fetch(`http://127.0.0.1:${addr.port}/other`)).status, 404)
  } finally {
    await server.close()
  }
})

test('metrics expose the datapath counters by verdict and reason, auth entries and identities', async (t) => {
  const m = new DaemonMetrics({
    peerStates: () => ({}),
    wireguardBytes: async () => [],
    datapath: () => ({
      authEntries: 4,
      identities: 5,
      remoteIdentities: 3,
      stats: [
        { reason: 'allowed', verdict: 'pass', packets: 120, bytes: 9000 },
        { reason: 'drop_no_auth', verdict: 'drop', packets: 7, bytes: 420 },
      ],
    }),
  })
  const body = await m.registry.metrics()
  t.regex(body, /latch_datapath_packets\{verdict="pass",reason="allowed"\} 120/)
  t.regex(body, /latch_datapath_bytes\{verdict="drop",reason="drop_no_auth"\} 420/)
  t.regex(body, /latch_auth_entries 4/)
  t.regex(body, /latch_identities\{scope="remote"\} 3/)
})

test('without a datapath the datapath metrics are empty, not an error', async (t) => {
  const m = new DaemonMetrics({ peerStates: () => ({}), wireguardBytes: async () => [] })
  const body = await m.registry.metrics()
  t.notRegex(body, /latch_datapath_packets\{/)
  t.regex(body, /# TYPE latch_auth_entries gauge/)
})

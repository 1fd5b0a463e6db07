import test from 'ava'
import { parseWgDump } from '../../daemon/transport/wg-dump.js'

const K1 = 'KLWRLA0kMU2X20gZyszA/Fxa9KsDHMJqza/O3sTw9mA='
const P1 = 'iklvXJVKUOtZHtWoC0gDLzpm4SPq7qOaTjhIZE2DCGo='
const PEER = 'II0/lpRpy8jf5ZsAQTkI3kiaLjZS90aiMMrbZ/Gk5S8='
const PSK = '5vWG+xN2pta4+YNX06aEWcPzmRA889F8MiR6hFJmRnY='

test('a fresh wireguard-go interface has no keys and no peers', (t) => {
  const d = parseWgDump('(none)\t(none)\t47089\toff\n', 'latch0')
  t.deepEqual(d, { listenPort: 47089, peers: new Map() })
})

test('peer lines give keys, endpoint, sorted canonical allowed IPs, handshake, counters, keepalive', (t) => {
  const d = parseWgDump(
    `${K1}\t${P1}\t51820\toff\n` +
      `${PEER}\t${PSK}\t10.99.0.12:51820\t10.101.0.2/32,10.100.2.0/24\t1700000000\t1234\t5678\t25\n` +
      `${P1}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n`,
    'latch0',
  )
  t.is(d.privateKey, K1)
  t.is(d.publicKey, P1)
  t.deepEqual(d.peers.get(PEER), {
    publicKey: PEER,
    presharedKey: PSK,
    endpoint: '10.99.0.12:51820',
    allowedIps: ['10.100.2.0/24', '10.101.0.2/32'],
    latestHandshake: 1700000000,
    rxBytes: 1234,
    txBytes: 5678,
    persistentKeepalive: 25,
  })
  t.deepEqual(d.peers.get(P1), {
    publicKey: P1,
    allowedIps: [],
    latestHandshake: 0,
    rxBytes: 0,
    txBytes: 0,
    persistentKeepalive: 0,
  })
})

test('unexpected output is an error that does not echo the (secret-bearing) text', (t) => {
  const err = t.throws(() => parseWgDump(`${K1}\t${P1}\n`, 'latch0'), {
    code: 'LATCH_ERR_WG_COMMAND_FAILED',
  } as never)
  t.false(err?.message.includes(K1))
  t.throws(() => parseWgDump(`${K1}\t${P1}\t1\toff\n${PEER}\t${PSK}\n`, 'latch0'), {
    code: 'LATCH_ERR_WG_COMMAND_FAILED',
  } as never)
})

import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { chooseWgControl } from '../../daemon/transport/wg-control.js'
import type { WgDesired, WgPeerConfig, WgPlan } from '../../daemon/transport/wg-plan.js'
import { encodeUapiSet, parseUapiGet, uapiErrno } from '../../daemon/transport/wg-uapi.js'
import { uapiRequest } from '../../daemon/transport/wg-uapi-socket.js'

/** The codec and the socket client of wireguard-go's UAPI; wg-uapi-netns.test.ts runs it for real. */

const PRIV = 'KLWRLA0kMU2X20gZyszA/Fxa9KsDHMJqza/O3sTw9mA='
const PUB = 'iklvXJVKUOtZHtWoC0gDLzpm4SPq7qOaTjhIZE2DCGo='
const PEER = 'II0/lpRpy8jf5ZsAQTkI3kiaLjZS90aiMMrbZ/Gk5S8='
const PSK = '5vWG+xN2pta4+YNX06aEWcPzmRA889F8MiR6hFJmRnY='
const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex')
const ZERO = '0'.repeat(64)

const peer: WgPeerConfig = {
  publicKey: PEER,
  presharedKey: PSK,
  endpoint: '[fd00::12]:51820',
  allowedIps: ['10.100.2.0/24', '10.101.0.2/32'],
  persistentKeepalive: 25,
}
const desired: WgDesired = {
  privateKey: PRIV,
  listenPort: 51820,
  peers: new Map([[PEER, peer]]),
  keep: new Set(),
}

test('a plan becomes one set request: device, removals first, then only the fields that changed', (t) => {
  const plan: WgPlan = {
    setPrivateKey: true,
    setListenPort: true,
    remove: [PUB],
    changes: [
      { peer, isNew: true, fields: ['presharedKey', 'endpoint', 'allowedIps', 'persistentKeepalive'] },
      { peer: { ...peer, publicKey: PUB }, isNew: false, fields: ['presharedKey'] },
    ],
  }
  t.is(
    encodeUapiSet(plan, desired),
    [
      'set=1',
      `private_key=${hex(PRIV)}`,
      'listen_port=51820',
      `public_key=${hex(PUB)}`,
      'remove=true',
      `public_key=${hex(PEER)}`,
      `preshared_key=${hex(PSK)}`,
      'endpoint=[fd00::12]:51820',
      'persistent_keepalive_interval=25',
      'replace_allowed_ips=true',
      'allowed_ip=10.100.2.0/24',
      'allowed_ip=10.101.0.2/32',
      `public_key=${hex(PUB)}`,
      `preshared_key=${hex(PSK)}`,
      '',
      '',
    ].join('\n'),
  )
})

test('a get answer parses to the state `wg show dump` gives', (t) => {
  const d = parseUapiGet(
    [
      `private_key=${hex(PRIV)}`,
      'listen_port=51820',
      `public_key=${hex(PEER)}`,
      `preshared_key=${hex(PSK)}`,
      'protocol_version=1',
      'endpoint=10.99.0.12:51820',
      'last_handshake_time_sec=1700000000',
      'last_handshake_time_nsec=5',
      'tx_bytes=5678',
      'rx_bytes=1234',
      'persistent_keepalive_interval=25',
      'allowed_ip=10.101.0.2/32',
      'allowed_ip=10.100.2.0/24',
      `public_key=${hex(PUB)}`,
      `preshared_key=${ZERO}`,
      'persistent_keepalive_interval=0',
      'errno=0',
      '',
      '',
    ].join('\n'),
    'latch0',
  )
  t.is(d.privateKey, PRIV)
  t.is(d.publicKey, PUB)
  t.is(d.listenPort, 51820)
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
  t.deepEqual(d.peers.get(PUB), {
    publicKey: PUB,
    allowedIps: [],
    latestHandshake: 0,
    rxBytes: 0,
    txBytes: 0,
    persistentKeepalive: 0,
  })
})

test('a fresh device (all-zero private key) has no keys', (t) => {
  const d = parseUapiGet(`private_key=${ZERO}\nlisten_port=4000\nfwmark=0\nerrno=0\n\n`, 'latch0')
  t.deepEqual(d, { listenPort: 4000, peers: new Map() })
})

test('a get answer with a non-zero errno, without errno, or with a bad line is refused without its text', (t) => {
  for (const [answer, what] of [
    ['errno=-19\n\n', 'errno -19 (ENODEV)'],
    [`private_key=${hex(PRIV)}\n\n`, 'no errno line'],
    ['garbage\nerrno=0\n\n', 'without key=value'],
  ] as const) {
    const err = t.throws(() => parseUapiGet(answer, 'latch0'))
    t.true(isLatchError(err, 'LATCH_ERR_WG_COMMAND_FAILED'), String(err))
    t.true(err?.message.includes(what), err?.message)
    t.false(err?.message.includes(hex(PRIV)) ?? true)
  }
})

test('uapiErrno reads the closing errno line', (t) => {
  t.is(uapiErrno('errno=0\n\n'), 0)
  t.is(uapiErrno('x=1\nerrno=22\n\n'), 22)
  t.is(uapiErrno('xerrno=0\n\n'), undefined)
  t.is(uapiErrno(''), undefined)
})

/** A socket server answering each connection with `reply(request)` (or not at all). */
async function server(reply: (req: string, write: (s: string) => void, end: () => void) => void): Promise<{
  path: string
  close: () => void
}> {
  const dir = mkdtempSync(join(tmpdir(), 'latch-t-uapi-'))
  const path = join(dir, 'latch0.sock')
  const s: Server = createServer({ allowHalfOpen: true }, (c) => {
    let req = ''
    c.on('data', (d) => {
      req += d.toString()
      if (req.endsWith('\n\n'))
        reply(
          req,
          (x) => c.write(x),
          () => c.end(),
        )
    })
    c.on('error', () => undefined)
  })
  await new Promise<void>((r) => s.listen(path, r))
  return {
    path,
    close: () => {
      s.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

test('the client returns the answer at its closing empty line, even split over many writes', async (t) => {
  const srv = await server((_req, write) => {
    for (const ch of 'listen_port=1\nerrno=0\n\n') write(ch)
  })
  try {
    t.is(await uapiRequest(srv.path, 'get=1\n\n'), 'listen_port=1\nerrno=0\n\n')
  } finally {
    srv.close()
  }
})

test('no socket, an early close, a silent server: clear errors, never a hang', async (t) => {
  const missing = await t.throwsAsync(uapiRequest('/nonexistent/latch0.sock', 'get=1\n\n'))
  t.true(isLatchError(missing, 'LATCH_ERR_WG_COMMAND_FAILED'))
  t.regex(missing?.message ?? '', /\/nonexistent\/latch0\.sock.*ENOENT/)
  const early = await server((_r, write, end) => {
    write('listen_port=1\n')
    end()
  })
  const silent = await server(() => undefined)
  try {
    const e1 = await t.throwsAsync(uapiRequest(early.path, 'get=1\n\n'))
    t.regex(e1?.message ?? '', /closed before a complete answer/)
    const e2 = await t.throwsAsync(uapiRequest(silent.path, 'get=1\n\n', 200))
    t.regex(e2?.message ?? '', /no complete answer within 200 ms/)
  } finally {
    early.close()
    silent.close()
  }
})

test('the channel: UAPI for a userspace device with a socket, unless told wg; `wg` for the kernel', async (t) => {
  const srv = await server(() => undefined)
  const dir = srv.path.slice(0, srv.path.lastIndexOf('/'))
  const runner = { run: async () => ({ stdout: '', stderr: '', exitCode: 0 }) }
  const base = { iface: 'latch0', runner, privateKeyFile: '/k', socketDir: dir }
  try {
    t.is(chooseWgControl({ ...base, backend: 'userspace' }).via, 'uapi')
    t.is(chooseWgControl({ ...base, backend: 'userspace', userspaceControl: 'wg' }).via, 'wg')
    t.is(chooseWgControl({ ...base, backend: 'kernel' }).via, 'wg')
    t.is(chooseWgControl({ ...base, backend: 'userspace', iface: 'other0' }).via, 'wg', 'no socket: wg')
  } finally {
    srv.close()
  }
})

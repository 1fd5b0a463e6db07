/**
 * The IPsec transport against an in-memory XFRM database and rtnetlink (transcripts), with a
 * clock the test moves: first programming, the make-before-break rekey (inbound first, outbound
 * switch after switchAfterMs, old inbound retired after retireAfterMs), removal, adoption after a
 * restart; plus the key schedule (both ends derive the same SAs) and the XFRM message layouts.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import pino from 'pino'
import { IpsecTransport } from '../../daemon/transport/ipsec.js'
import type { WgPeerConfig } from '../../daemon/transport/wg-plan.js'
import {
  decodePolicy,
  decodeSa,
  encodeNewSa,
  encodePolicy,
  REPLAY_WINDOW,
} from '../../daemon/transport/xfrm/codec.js'
import { espKeys, pairReqid } from '../../daemon/transport/xfrm/esp-keys.js'
import { FakeNetlink } from './helpers/fake-wg.js'
import { FakeXfrm, hex } from './helpers/fake-xfrm.js'

const logger = pino({ level: 'silent' })
const PSK1 = Buffer.alloc(32, 1).toString('base64')
const PSK2 = Buffer.alloc(32, 2).toString('base64')
const PEER_KEY = Buffer.alloc(32, 9).toString('base64')

let dir: string
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-ipsec-plan-'))
})
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true })
})

function setup(keyName: string) {
  const netlink = new FakeNetlink()
  const xfrm = new FakeXfrm()
  let now = 1_000_000
  let wakes = 0
  const transport = new IpsecTransport(
    {
      interface: 'latchx0',
      ifId: 7,
      address: '10.101.0.1/32',
      underlay: '10.99.0.11',
      privateKeyFile: join(dir, keyName),
      timing: { switchAfterMs: 2000, retireAfterMs: 6000 },
    },
    netlink,
    xfrm,
    logger,
    () => {
      wakes++
    },
    () => now,
  )
  return {
    netlink,
    xfrm,
    transport,
    advance: (ms: number) => {
      now += ms
    },
    wakes: () => wakes,
  }
}

const peer = (psk: string): WgPeerConfig => ({
  name: 'node2',
  publicKey: PEER_KEY,
  presharedKey: psk,
  endpoint: '10.99.0.12:51820',
  allowedIps: ['10.100.2.0/24', '10.101.0.2/32'],
  persistentKeepalive: 25,
})

test('first programming: xfrm link, one SA per direction, out/in/fwd policies per prefix, routes', async (t) => {
  const { netlink, xfrm, transport } = setup('k1')
  await transport.start()
  t.deepEqual(netlink.transcript.slice(0, 1), ['link add latchx0 type xfrm if_id 7'])
  const r = await transport.reconcile([peer(PSK1)], new Set(), new Map())
  const me = transport.ownPublicKey
  const out = espKeys(PSK1, me, PEER_KEY)
  const inn = espKeys(PSK1, PEER_KEY, me)
  const reqid = pairReqid(me, PEER_KEY)
  t.deepEqual(xfrm.transcript, [
    `sa add 10.99.0.12 -> 10.99.0.11 spi ${hex(inn.spi)} reqid ${reqid} if_id 7`,
    `sa add 10.99.0.11 -> 10.99.0.12 spi ${hex(out.spi)} reqid ${reqid} if_id 7`,
    'policy set fwd 10.100.2.0/24 -> 0.0.0.0/0 tmpl 10.99.0.12 -> 10.99.0.11',
    'policy set fwd 10.101.0.2/32 -> 0.0.0.0/0 tmpl 10.99.0.12 -> 10.99.0.11',
    'policy set in 10.100.2.0/24 -> 0.0.0.0/0 tmpl 10.99.0.12 -> 10.99.0.11',
    'policy set in 10.101.0.2/32 -> 0.0.0.0/0 tmpl 10.99.0.12 -> 10.99.0.11',
    'policy set out 0.0.0.0/0 -> 10.100.2.0/24 tmpl 10.99.0.11 -> 10.99.0.12',
    'policy set out 0.0.0.0/0 -> 10.101.0.2/32 tmpl 10.99.0.11 -> 10.99.0.12',
  ])
  t.true(
    r.actions.includes('route add 10.100.2.0/24 dev latchx0') ||
      r.actions.some((a) => a.includes('10.100.2.0/24')),
  )
  // nothing differs: a second reconcile changes nothing
  xfrm.transcript.length = 0
  const again = await transport.reconcile([peer(PSK1)], new Set(), new Map())
  t.deepEqual(xfrm.transcript, [])
  t.false(again.changed)
})

test('rekey make-before-break: new inbound at once, new outbound after 2 s, old inbound and outbound gone after 6 s', async (t) => {
  const { xfrm, transport, advance, wakes } = setup('k2')
  await transport.start()
  await transport.reconcile([peer(PSK1)], new Set(), new Map())
  const me = transport.ownPublicKey
  const [out1, in1, out2, in2] = [
    espKeys(PSK1, me, PEER_KEY).spi,
    espKeys(PSK1, PEER_KEY, me).spi,
    espKeys(PSK2, me, PEER_KEY).spi,
    espKeys(PSK2, PEER_KEY, me).spi,
  ].map(hex)
  t.not(out1, out2, 'the SPI rolls over with the exporter value')
  xfrm.transcript.length = 0
  advance(100)
  await transport.reconcile([peer(PSK2)], new Set(), new Map())
  t.deepEqual(xfrm.transcript, [
    `sa add 10.99.0.12 -> 10.99.0.11 spi ${in2} reqid ${pairReqid(me, PEER_KEY)} if_id 7`,
  ])
  t.deepEqual(xfrm.spisTo('10.99.0.12'), [out1], 'still sending with the old SA')
  t.deepEqual(xfrm.spisTo('10.99.0.11'), [in1, in2].sort(), 'both inbound SAs accepted')

  xfrm.transcript.length = 0
  advance(2000)
  await transport.reconcile([peer(PSK2)], new Set(), new Map())
  // the newest SA of a template is the one the kernel sends with; the old one stays for packets
  // already bound to it (deleting it now drops them as XfrmOutStateInvalid)
  t.deepEqual(xfrm.transcript, [
    `sa add 10.99.0.11 -> 10.99.0.12 spi ${out2} reqid ${pairReqid(me, PEER_KEY)} if_id 7`,
  ])
  t.deepEqual(xfrm.spisTo('10.99.0.12'), [out1, out2].sort(), 'the new outbound SA is added, the old kept')
  t.deepEqual(xfrm.spisTo('10.99.0.11'), [in1, in2].sort(), 'the old inbound SA still accepts late packets')

  xfrm.transcript.length = 0
  advance(3999)
  await transport.reconcile([peer(PSK2)], new Set(), new Map())
  t.deepEqual(xfrm.transcript, [], 'nothing retires before retireAfterMs')
  advance(1)
  await transport.reconcile([peer(PSK2)], new Set(), new Map())
  t.deepEqual(xfrm.spisTo('10.99.0.11'), [in2], 'the old inbound SA is removed after retireAfterMs')
  t.deepEqual(xfrm.spisTo('10.99.0.12'), [out2], 'and the old outbound SA with it')
  t.true(wakes() === 0, 'wake-ups are timers; this test drives reconciles itself')
  transport.stop()
})

test('a removed peer loses its SAs and policies; an adopted pair is left alone until claimed', async (t) => {
  const a = setup('k3')
  await a.transport.start()
  await a.transport.reconcile([peer(PSK1)], new Set(), new Map())
  // a restarted daemon (same key file) finds the SAs and keeps them while the pair is adopted
  const b = setup('k3')
  for (const [k, v] of a.xfrm.sas) b.xfrm.sas.set(k, v)
  for (const [k, v] of a.xfrm.policies) b.xfrm.policies.set(k, v)
  b.netlink.addLink('latchx0', 'xfrm')
  const started = await b.transport.start()
  t.true(started.adopted)
  const adopted = [...started.state.peers.keys()]
  t.is(adopted.length, 1)
  await b.transport.reconcile([], new Set(adopted), new Map())
  t.deepEqual(b.xfrm.transcript, [], 'adopted SAs and policies untouched')
  // the handshake is redone (new exporter value): new inbound first, the old outbound kept until the switch
  await b.transport.reconcile([peer(PSK2)], new Set(adopted), new Map())
  t.is(b.xfrm.spisTo('10.99.0.12').length, 1)
  t.is(b.xfrm.spisTo('10.99.0.11').length, 2)
  // removed from the mesh: everything goes
  b.xfrm.transcript.length = 0
  await b.transport.reconcile([], new Set(), new Map())
  t.deepEqual(b.xfrm.sas.size, 0)
  t.deepEqual(b.xfrm.policies.size, 0)
  t.true(b.xfrm.transcript.every((l) => l.startsWith('sa del') || l.startsWith('policy del')))
})

test('both ends derive the same SA per direction; directions and generations differ', (t) => {
  const a = Buffer.alloc(32, 3).toString('base64')
  const b = Buffer.alloc(32, 4).toString('base64')
  t.deepEqual(espKeys(PSK1, a, b), espKeys(PSK1, a, b))
  t.not(espKeys(PSK1, a, b).spi, espKeys(PSK1, b, a).spi)
  t.false(espKeys(PSK1, a, b).key.equals(espKeys(PSK2, a, b).key))
  t.is(espKeys(PSK1, a, b).key.length, 20)
  t.true(espKeys(PSK1, a, b).spi >= 0x100)
  t.is(pairReqid(a, b), pairReqid(b, a))
})

test('XFRM messages: usersa_info and userpolicy_info round-trip through the codec', (t) => {
  const sa = {
    src: '10.99.0.11',
    dst: '10.99.0.12',
    spi: 0xdeadbeef,
    reqid: 42,
    key: Buffer.alloc(20, 7),
    ifId: 7,
  }
  const raw = encodeNewSa(sa)
  t.is(raw.length, 224 + 4 + 72 + 20 + 8)
  t.deepEqual(decodeSa(raw), {
    src: sa.src,
    dst: sa.dst,
    spi: sa.spi,
    reqid: 42,
    ifId: 7,
    replayWindow: REPLAY_WINDOW,
    bytes: 0,
  })
  t.is(raw.subarray(228, 228 + 17).toString('latin1'), 'rfc4106(gcm(aes))')
  const p = {
    dir: 'fwd' as const,
    sel: { src: '10.100.2.0/24', dst: '0.0.0.0/0' },
    tmplSrc: '10.99.0.12',
    tmplDst: '10.99.0.11',
    reqid: 42,
    ifId: 7,
    priority: 1000,
  }
  t.deepEqual(decodePolicy(encodePolicy(p)), p)
})

test('XFRM messages: SAs and policies carry no expiry (byte/packet limits infinite, expiry times 0)', (t) => {
  const INF = 0xffff_ffff_ffff_ffffn
  // xfrm_lifetime_cfg: soft/hard byte limit, soft/hard packet limit, then soft/hard add and use
  // expiry seconds. An expiry of XFRM_INF makes the kernel expire the entry a second after it is added.
  const lifetime = (buf: Buffer, off: number) =>
    Array.from({ length: 8 }, (_, i) => buf.readBigUInt64LE(off + i * 8))
  const want = [INF, INF, INF, INF, 0n, 0n, 0n, 0n]
  const sa = encodeNewSa({
    src: '10.99.0.11',
    dst: '10.99.0.12',
    spi: 0x1234,
    reqid: 1,
    key: Buffer.alloc(20, 1),
    ifId: 7,
  })
  t.deepEqual(lifetime(sa, 96), want, 'xfrm_usersa_info.lft')
  t.deepEqual(lifetime(sa, 160).slice(0, 4), [0n, 0n, 0n, 0n], 'xfrm_usersa_info.curlft is empty')
  const pol = encodePolicy({
    dir: 'out',
    sel: { src: '0.0.0.0/0', dst: '10.100.2.0/24' },
    tmplSrc: '10.99.0.11',
    tmplDst: '10.99.0.12',
    reqid: 1,
    ifId: 7,
    priority: 1000,
  })
  t.deepEqual(lifetime(pol, 56), want, 'xfrm_userpolicy_info.lft')
})

import test from 'ava'
import { canonicalEndpoint, canonicalPrefix, prefixesOverlap } from '../../daemon/transport/addr.js'
import { planRoutes } from '../../daemon/transport/route-plan.js'
import type { WgDeviceState } from '../../daemon/transport/wg-dump.js'
import { planIsEmpty, planWireguard, type WgPeerConfig } from '../../daemon/transport/wg-plan.js'
import { batches } from '../../daemon/transport/wg-set.js'

const peer = (k: string, over: Partial<WgPeerConfig> = {}): WgPeerConfig => ({
  publicKey: k,
  presharedKey: `psk-${k}`,
  endpoint: '10.99.0.12:51820',
  allowedIps: ['10.100.2.0/24'],
  persistentKeepalive: 25,
  ...over,
})
const state = (peers: WgPeerConfig[], extra: Partial<WgDeviceState> = {}): WgDeviceState => ({
  privateKey: 'priv',
  listenPort: 51820,
  peers: new Map(peers.map((p) => [p.publicKey, { ...p, latestHandshake: 0, rxBytes: 0, txBytes: 0 }])),
  ...extra,
})
const desired = (peers: WgPeerConfig[], keep: string[] = []) => ({
  privateKey: 'priv',
  listenPort: 51820,
  peers: new Map(peers.map((p) => [p.publicKey, p])),
  keep: new Set(keep),
})

test('a device that matches the desired state gives an empty plan', (t) => {
  t.true(planIsEmpty(planWireguard(desired([peer('a'), peer('b')]), state([peer('a'), peer('b')]))))
})

test('only differing fields are planned, unknown peers removed unless kept', (t) => {
  const plan = planWireguard(
    desired([peer('a', { presharedKey: 'new' }), peer('c')], ['k']),
    state([peer('a'), peer('b'), peer('k')], { listenPort: 1, privateKey: 'other' }),
  )
  t.true(plan.setListenPort)
  t.true(plan.setPrivateKey)
  t.deepEqual(plan.remove, ['b'])
  t.deepEqual(
    plan.changes.map((c) => [c.peer.publicKey, c.isNew, c.fields]),
    [
      ['a', false, ['presharedKey']],
      ['c', true, ['presharedKey', 'endpoint', 'allowedIps', 'persistentKeepalive']],
    ],
  )
})

test('routes: add what is missing, delete only what is no longer wanted', (t) => {
  t.deepEqual(planRoutes(['10.1.0.0/24', '10.2.0.0/24'], ['10.2.0.0/24', '10.3.0.0/24']), {
    add: ['10.1.0.0/24'],
    del: ['10.3.0.0/24'],
  })
})

const prefixes: Array<[string, string | undefined]> = [
  ['10.100.2.7/24', '10.100.2.0/24'],
  ['10.101.0.2/32', '10.101.0.2/32'],
  ['fd00:0:0::1/64', 'fd00::/64'],
  ['10.100.2.0', undefined],
  ['nope/8', undefined],
]
for (const [input, want] of prefixes) {
  test(`canonicalPrefix(${input}) is ${want}`, (t) => t.is(canonicalPrefix(input), want))
}

const endpoints: Array<[string, string | undefined]> = [
  ['10.99.0.12:51820', '10.99.0.12:51820'],
  ['[fd00:0::1]:51820', '[fd00::1]:51820'],
  ['[::ffff:10.0.0.1]:5', '10.0.0.1:5'],
  ['10.99.0.12:0', undefined],
  ['10.99.0.12', undefined],
  ['host:51820', undefined],
]
for (const [input, want] of endpoints) {
  test(`canonicalEndpoint(${input}) is ${want}`, (t) => t.is(canonicalEndpoint(input), want))
}

test('prefix overlap is containment either way, and never across families', (t) => {
  t.true(prefixesOverlap('10.0.0.0/8', '10.1.2.0/24'))
  t.true(prefixesOverlap('10.1.2.0/24', '10.0.0.0/8'))
  t.false(prefixesOverlap('10.1.2.0/24', '10.1.3.0/24'))
  t.false(prefixesOverlap('10.0.0.0/8', 'fd00::/8'))
})

test('wg set argv is split only past the byte budget, in order, never inside a clause', (t) => {
  const clauses = [
    ['listen-port', '1'],
    ['peer', 'a', 'remove'],
    ['peer', 'b', 'endpoint', '1.2.3.4:5'],
  ]
  t.deepEqual(batches(clauses, 1 << 20), [clauses.flat()])
  t.deepEqual(batches(clauses, 30), [
    ['listen-port', '1', 'peer', 'a', 'remove'],
    ['peer', 'b', 'endpoint', '1.2.3.4:5'],
  ])
  t.deepEqual(batches([], 10), [])
})

import test from 'ava'
import type { LabStatus } from '../../daemon/lab/status.js'
import { formatLabStatus, formatPeer } from '../../daemon/lab/status-format.js'

test('a peer line carries state, tunnel, endpoint, PSK age and WireGuard bytes', (t) => {
  t.is(
    formatPeer({
      name: 'node2',
      state: 'established',
      tunnel: 'up',
      endpoint: '10.99.0.12:51820',
      pskAgeSeconds: 4,
      rotations: 2,
      wireguard: { rxBytes: 124, txBytes: 180, hasPresharedKey: true },
    }),
    'peer node2: established, tunnel up, endpoint 10.99.0.12:51820, PSK age 4s, 2 rotations, rx 124 B tx 180 B',
  )
})

test("a refused peer's line names the reason", (t) => {
  const line = formatPeer({
    name: 'node3',
    state: 'refused',
    refusal: { reason: 'cidr_outside_constraints', message: '10.200.0.0/24 is outside' },
  })
  t.is(line, 'peer node3: refused, refused: cidr_outside_constraints 10.200.0.0/24 is outside')
})

test('the lab status names missing pieces and a daemon that is not running', (t) => {
  const s: LabStatus = {
    up: true,
    size: { nodes: 1, workloads: 1 },
    rekeyInterval: '2m',
    trustDomain: 'lab.latch',
    underlay: { netns: 'latch-underlay', bridge: 'latchbr0', present: true },
    nodes: [
      {
        name: 'node1',
        netns: 'latch-node1',
        present: true,
        underlayIp: '10.99.0.11',
        tunnelAddress: '10.101.0.1/32',
        workloadCidr: '10.100.1.0/24',
        cniCidr: '10.129.0.0/20',
        log: '/run/latch-lab/node1/latchd.log',
        latchd: { alive: false, socket: false },
        workloads: [
          {
            name: 'node1-w1',
            netns: 'latch-node1-w1',
            present: false,
            ip: '10.100.1.11',
            interface: 'lw1',
            spiffeId: 'spiffe://lab.latch/ns/lab/sa/node1-w1',
          },
        ],
      },
    ],
    strays: ['latch-node7'],
  }
  const text = formatLabStatus(s)
  t.regex(
    text,
    /node1: 10\.99\.0\.11, tunnel 10\.101\.0\.1\/32, workloads 10\.100\.1\.0\/24, CNI workloads 10\.129\.0\.0\/20, latchd NOT RUNNING/,
  )
  t.regex(
    text,
    /node1-w1: 10\.100\.1\.11 via lw1, spiffe:\/\/lab\.latch\/ns\/lab\/sa\/node1-w1 \(netns MISSING\)/,
  )
  t.regex(text, /strays .*latch-node7/)
  t.regex(formatLabStatus({ up: false, nodes: [], strays: [] }), /no lab is up/)
})

import test from 'ava'
import { execa } from 'execa'
import { parse } from 'yaml'
import { parseConfig } from '../../daemon/config/index.js'
import { parsePeersText } from '../../daemon/discovery/peers-file.js'
import { newWireguardKey, renderDaemonConfig, renderPeers } from '../../daemon/lab/daemon-files.js'
import { labPlan } from '../../daemon/lab/plan.js'

const plan = labPlan({ nodes: 3, workloads: 2 })
const node1 = plan.nodes[0]!

test("each node's latchd.yaml passes latchd's own config schema with the documented values", (t) => {
  for (const node of plan.nodes) {
    const config = parseConfig(parse(renderDaemonConfig(plan, node, '5s')), node.configFile)
    t.is(config.node, node.name)
    t.is(config.listen.address, node.underlayIp)
    t.is(config.listen.port, 7443)
    t.deepEqual(config.workloadCidrs, [node.workloadCidr, node.cniCidr])
    t.like(config.wireguard, { interface: 'latch0', listenPort: 51820, address: node.tunnelAddress })
    t.is(config.controlSocket, node.controlSocket)
    t.is(config.rekeyInterval, 5000)
    t.deepEqual(
      config.workloads.map((w) => [w.id, w.ips, w.interface]),
      node.workloads.map((w) => [w.spiffeId, [w.ip], w.hostInterface]),
    )
  }
})

test("each node's peers.yaml lists every other node at its underlay address and handshake port", (t) => {
  const peers = parsePeersText(renderPeers(plan, node1), node1.peersFile, 'node1')
  t.deepEqual(peers, [
    { name: 'node2', address: '10.99.0.12', port: 7443 },
    { name: 'node3', address: '10.99.0.13', port: 7443 },
  ])
})

test('the generated WireGuard key is one `wg pubkey` accepts', async (t) => {
  const key = newWireguardKey()
  t.is(Buffer.from(key.trim(), 'base64').length, 32)
  const pub = await execa('wg', ['pubkey'], { input: key })
  t.regex(pub.stdout, /^[A-Za-z0-9+/]{43}=$/)
  t.not(newWireguardKey(), key)
})

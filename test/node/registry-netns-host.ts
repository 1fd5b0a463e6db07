/**
 * Helper for registry-netns.test.ts, run inside the node's network namespace (`nsenter
 * --net=/run/netns/NS node --import=tsx test/node/registry-netns-host.ts DIR PIN_DIR CIDR`; nsenter,
 * not `ip netns exec`, which would remount /sys and hide the bpffs holding the pins). The real
 * WorkloadRegistry on the real NodeDatapath (programs and maps pinned at PIN_DIR, tc on the
 * interfaces of this namespace), no pair authentication. One JSON request a line on stdin
 * ({op: 'add', ...WorkloadAddRequest} | {op: 'remove', ...WorkloadRemoveRequest} | {op: 'list'}),
 * one JSON answer a line on stdout ({ok, value} or {ok: false, code, message}).
 */
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import pino from 'pino'
import { daemonPkiFiles } from '../../certs/layout.js'
import { asLatchError } from '../../daemon/base/errors.js'
import { configSchema } from '../../daemon/config/schema.js'
import { NodeDatapath } from '../../daemon/engine/datapath.js'
import { systemInterfaces } from '../../daemon/engine/interfaces.js'
import { WorkloadRegistry } from '../../daemon/node/workload-registry.js'

const [dir, pinDir, cidr] = process.argv.slice(2)
if (!dir || !pinDir || !cidr) {
  process.stderr.write('usage: registry-netns-host.ts DIR PIN_DIR CIDR\n')
  process.exit(64)
}
const logger = pino({ level: process.env.LATCH_TEST_LOG ?? 'silent' }, pino.destination(2))
const config = configSchema.parse({
  node: 'node1',
  trustDomain: 'rn.latch',
  pki: daemonPkiFiles(join(dir, 'pki'), 'node1'),
  listen: { address: '127.0.0.1' },
  workloadCidrs: [cidr],
  wireguard: { address: '10.96.0.1/32', privateKeyFile: join(dir, 'wg.key') },
  peersFile: join(dir, 'peers.yaml'),
  workloads: [],
  registrations: { file: join(dir, 'workloads.json'), svidDir: join(dir, 'workloads') },
})
const registry = new WorkloadRegistry(config, logger, systemInterfaces)
await registry.load()
const datapath = NodeDatapath.start({
  pinDir,
  identitiesFile: join(dir, 'identities.json'),
  wireguardInterface: 'latchrnwg0',
  workloads: registry.datapathWorkloads(),
  logger,
})
registry.bind({ datapath })

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  const { op, ...req } = JSON.parse(line) as { op: string } & Record<string, unknown>
  try {
    const value =
      op === 'add'
        ? await registry.add(req as never)
        : op === 'remove'
          ? await registry.remove(req as never)
          : registry.list()
    process.stdout.write(`${JSON.stringify({ ok: true, value })}\n`)
  } catch (err) {
    const e = asLatchError(err)
    process.stdout.write(`${JSON.stringify({ ok: false, code: e.code, message: e.message })}\n`)
  }
}
datapath.close()

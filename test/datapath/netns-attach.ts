/**
 * Helper for netns.test.ts, run inside a network namespace (`nsenter --net=/run/netns/NS node
 * --import=tsx test/datapath/netns-attach.ts PIN_DIR IFACE...`): loads (or adopts) the datapath
 * pinned at PIN_DIR and attaches it to each IFACE of that namespace. Prints the results as JSON.
 */
import { Datapath } from '../../daemon/datapath/index.js'

const [pinDir, ...ifaces] = process.argv.slice(2)
if (!pinDir || ifaces.length === 0) {
  process.stderr.write('usage: netns-attach.ts PIN_DIR IFACE...\n')
  process.exit(64)
}
const dp = Datapath.load({ pinDir, eventIntervalMs: 0 })
try {
  process.stdout.write(`${JSON.stringify(ifaces.map((i) => dp.attach(i)))}\n`)
} finally {
  dp.close()
}

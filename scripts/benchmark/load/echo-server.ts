/**
 * The benchmark's echo server (run inside the server workload's netns): TCP and UDP on one port,
 * every byte or datagram sent straight back. Prints one "ready" line when both listen; exits on
 * SIGTERM. Usage: echo-server.ts --port 7000
 */
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { port: { type: 'string', default: '7000' } } })
const port = Number(values.port)

const tcp = createServer({ noDelay: true }, (sock) => {
  sock.on('data', (d) => sock.write(d))
  sock.on('error', () => sock.destroy())
})
const udp = createSocket('udp4')
udp.on('message', (msg, from) => udp.send(msg, from.port, from.address))

await Promise.all([
  new Promise<void>((resolve, reject) => {
    tcp.once('error', reject)
    tcp.listen({ port, host: '0.0.0.0', backlog: 4096 }, resolve)
  }),
  new Promise<void>((resolve, reject) => {
    udp.once('error', reject)
    udp.bind(port, '0.0.0.0', resolve)
  }),
])
process.stdout.write('ready\n')
process.on('SIGTERM', () => {
  tcp.close()
  udp.close()
  process.exit(0)
})

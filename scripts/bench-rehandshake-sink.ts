/**
 * The sink of scripts/bench-rehandshake's "attacker CPU only" condition: listens on ADDRESS at each
 * PORT, accepts every connection, reads and discards what it sends, and holds the newest HOLD (1024)
 * of each port, closing the oldest beyond that — as a bounded latchd listener sheds — so the attacker
 * does all its work, within its own open-file limit, while no latchd is attacked.
 *
 *   node --import tsx bench-rehandshake-sink.ts ADDRESS PORT…
 */
import { createServer, type Socket } from 'node:net'

const HOLD = 1024
const [address, ...ports] = process.argv.slice(2)
for (const port of ports) {
  const held = new Set<Socket>()
  const server = createServer((s) => {
    held.add(s)
    s.on('data', () => undefined)
    s.on('error', () => undefined)
    s.on('close', () => held.delete(s))
    if (held.size > HOLD) held.values().next().value?.destroy()
  })
  server.listen({ host: address, port: Number(port), backlog: 4096 })
}

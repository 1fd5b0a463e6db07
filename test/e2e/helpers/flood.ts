/**
 * The attacker of test/e2e/hostile.test.ts, run inside the underlay namespace with addresses of its
 * own on the lab bridge and no credentials. Phases, against every target, round-robin over the
 * source addresses: `idle` TCP connections that send nothing, `slowloris` connections that send a
 * TLS record header and then one byte a second, and a paced `flood` of connections (`rate` per
 * second). Every socket is kept until the peer closes it or `holdMs` after the last phase: the
 * attacker never lets go by itself, so what closes them is latchd. Prints two JSON lines: at the end
 * of the last phase `{"phase":"attack_done",…}`, and after the hold, per target, connects, refusals
 * (ECONNREFUSED), closes by the peer, sockets still open, other errors.
 *
 *   node --import tsx flood.ts '{"targets":[{"host":"10.99.0.12","port":7443}],"sources":["10.99.0.240"],...}'
 */
import { connect, type Socket } from 'node:net'

interface Plan {
  targets: Array<{ host: string; port: number }>
  sources: string[]
  idle: number
  slowloris: number
  flood: number
  rate: number
  holdMs: number
}

interface Tally {
  attempts: number
  connected: number
  refused: number
  closedByPeer: number
  errors: Record<string, number>
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan
const tallies = plan.targets.map<Tally>(() => ({
  attempts: 0,
  connected: 0,
  refused: 0,
  closedByPeer: 0,
  errors: {},
}))
const open = new Set<Socket>()
/** Sockets this script closed itself (at the end): not counted as closed by the peer. */
const ours = new Set<Socket>()
let n = 0
let maxOpen = 0

function one(kind: 'idle' | 'slowloris' | 'flood'): void {
  const i = n % plan.targets.length
  const target = plan.targets[i]!
  const source = plan.sources[Math.floor(n / plan.targets.length) % plan.sources.length]!
  n++
  const tally = tallies[i]!
  tally.attempts++
  const s = connect({ host: target.host, port: target.port, localAddress: source })
  let drip: NodeJS.Timeout | undefined
  let connected = false
  open.add(s)
  maxOpen = Math.max(maxOpen, open.size)
  s.on('connect', () => {
    tally.connected++
    connected = true
    if (kind === 'slowloris') {
      // a TLS handshake record header announcing 16 KiB, then one byte a second
      s.write(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]))
      drip = setInterval(() => s.write(Buffer.from([0x00])), 1000)
    }
  })
  s.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNREFUSED') tally.refused++
    else if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE')
      tally.errors[err.code ?? 'unknown'] = (tally.errors[err.code ?? 'unknown'] ?? 0) + 1
  })
  s.on('close', () => {
    if (drip) clearInterval(drip)
    if (connected && !ours.has(s)) tally.closedByPeer++
    open.delete(s)
  })
  s.on('end', () => s.destroy())
  s.on('data', () => undefined)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function paced(count: number, perSecond: number, kind: 'idle' | 'slowloris' | 'flood'): Promise<void> {
  const batch = Math.max(1, Math.round(perSecond / 20))
  for (let done = 0; done < count; done += batch) {
    for (let k = 0; k < Math.min(batch, count - done); k++) one(kind)
    await sleep(50)
  }
}

const started = Date.now()
await paced(plan.idle, 5000, 'idle')
await paced(plan.slowloris, 2000, 'slowloris')
await paced(plan.flood, plan.rate, 'flood')
const attackMs = Date.now() - started
console.log(JSON.stringify({ phase: 'attack_done', attackMs, open: open.size, maxOpen }))
await sleep(plan.holdMs)
const leftOpen = open.size
for (const s of open) {
  ours.add(s)
  s.destroy()
}
console.log(JSON.stringify({ phase: 'report', attackMs, maxOpen, leftOpen, targets: plan.targets, tallies }))
process.exit(0)

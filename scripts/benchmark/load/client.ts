/**
 * The benchmark's load client (run inside the client workload's netns, the same tool for every
 * setup). One measurement per run; the result is one JSON line on stdout (first-connect prints a
 * "ready" line first and waits for "go" on stdin).
 *
 *   client.ts tcp-rr --host H --port P --size 1 --count 10000 [--warmup 200]
 *   client.ts udp-rr --host H --port P --size 64 --count 5000 [--timeout-ms 200]
 *   client.ts conn-rate --host H --port P --count 2000
 *   client.ts probe --host H --port P [--deadline-ms 20000]
 *   client.ts first-connect --host H --port P [--deadline-ms 10000]
 */
import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import {
  type ClientResult,
  type ConnRateResult,
  epochMs,
  type FirstConnectResult,
  type ProbeResult,
  type TcpRrResult,
  type UdpRrResult,
} from './protocol.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '7000' },
    size: { type: 'string', default: '1' },
    count: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '200' },
    'timeout-ms': { type: 'string', default: '200' },
    'deadline-ms': { type: 'string', default: '20000' },
  },
})
const host = values.host!
const port = Number(values.port)
const size = Number(values.size)
const count = Number(values.count)

const usSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1000

function open(timeoutMs = 10_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, noDelay: true })
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    sock.once('connect', () => {
      clearTimeout(timer)
      resolve(sock)
    })
    sock.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

/** Sends `payload` and resolves when as many bytes came back. One listener for the whole run. */
function echoer(sock: Socket): (payload: Buffer) => Promise<void> {
  let want = 0
  let done: (() => void) | undefined
  let fail: ((err: Error) => void) | undefined
  sock.on('data', (d) => {
    want -= d.length
    if (want <= 0 && done) {
      const f = done
      done = undefined
      f()
    }
  })
  const onGone = (err?: Error) => fail?.(err ?? new Error(`${host}:${port} closed the connection`))
  sock.on('error', onGone)
  sock.on('close', () => onGone())
  return (payload) =>
    new Promise<void>((resolve, reject) => {
      want = payload.length
      done = resolve
      fail = reject
      sock.write(payload)
    })
}

async function tcpRr(): Promise<TcpRrResult> {
  const sock = await open()
  const roundTrip = echoer(sock)
  const payload = Buffer.alloc(size, 0x61)
  for (let i = 0; i < Number(values.warmup); i++) await roundTrip(payload)
  const latenciesUs: number[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint()
    await roundTrip(payload)
    latenciesUs[i] = usSince(t0)
  }
  sock.destroy()
  return { mode: 'tcp-rr', size, latenciesUs }
}

async function udpRr(): Promise<UdpRrResult> {
  const sock = createSocket('udp4')
  await new Promise<void>((resolve) => sock.bind(0, resolve))
  sock.connect(port, host)
  await once(sock, 'connect')
  const timeoutMs = Number(values['timeout-ms'])
  const payload = Buffer.alloc(Math.max(size, 4), 0x62)
  let waiting = -1
  let answered: (() => void) | undefined
  sock.on('message', (msg) => {
    if (msg.length >= 4 && msg.readUInt32BE(0) === waiting && answered) answered()
  })
  const latenciesUs: number[] = []
  let lost = 0
  for (let seq = 0; seq < count; seq++) {
    payload.writeUInt32BE(seq, 0)
    waiting = seq
    const t0 = process.hrtime.bigint()
    const replied = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      answered = () => {
        clearTimeout(timer)
        resolve(true)
      }
      sock.send(payload)
    })
    answered = undefined
    if (replied) latenciesUs.push(usSince(t0))
    else lost++
  }
  sock.close()
  return { mode: 'udp-rr', size: payload.length, latenciesUs, sent: count, lost }
}

async function connRate(): Promise<ConnRateResult> {
  const payload = Buffer.alloc(1, 0x63)
  const latenciesUs: number[] = new Array(count)
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint()
    const sock = await open()
    await echoer(sock)(payload)
    sock.destroy()
    latenciesUs[i] = usSince(t0)
  }
  return { mode: 'conn-rate', count, seconds: usSince(start) / 1e6, latenciesUs }
}

/** Fresh connects (250 ms each) until one completes or the deadline passes. */
async function probe(deadlineMs = Number(values['deadline-ms'])): Promise<ProbeResult> {
  const t0 = performance.now()
  let attempts = 0
  while (performance.now() - t0 < deadlineMs) {
    attempts++
    try {
      ;(await open(250)).destroy()
      return { mode: 'probe', ok: true, ms: performance.now() - t0, attempts }
    } catch {
      await sleep(50)
    }
  }
  return { mode: 'probe', ok: false, ms: performance.now() - t0, attempts }
}

async function firstConnect(): Promise<FirstConnectResult> {
  const deadlineMs = Number(values['deadline-ms'])
  process.stdout.write('ready\n')
  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) if (line.trim() === 'go') break
  const goAt = epochMs()
  const single = open(deadlineMs).then(
    (s) => {
      s.destroy()
      return epochMs()
    },
    () => null,
  )
  const retry = (async (): Promise<number | null> => {
    const attempts: Promise<number | null>[] = []
    let first: number | null = null
    const t0 = performance.now()
    while (first === null && performance.now() - t0 < deadlineMs) {
      attempts.push(
        open(250).then(
          (s) => {
            s.destroy()
            const at = epochMs()
            if (first === null) first = at
            return at
          },
          () => null,
        ),
      )
      await sleep(10)
    }
    await Promise.all(attempts)
    return first
  })()
  const [singleConnectAt, retryConnectAt] = await Promise.all([single, retry])
  lines.close()
  return { mode: 'first-connect', goAt, singleConnectAt, retryConnectAt }
}

const modes: Record<string, () => Promise<ClientResult>> = {
  'tcp-rr': tcpRr,
  'udp-rr': udpRr,
  'conn-rate': connRate,
  probe: () => probe(),
  'first-connect': firstConnect,
}
const run = modes[positionals[0] ?? '']
if (!run) {
  process.stderr.write(`usage: client.ts ${Object.keys(modes).join('|')} --host H --port P …\n`)
  process.exit(64)
}
process.stdout.write(`${JSON.stringify(await run())}\n`)
process.exit(0)

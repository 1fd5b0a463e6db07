/**
 * Traffic between lab workloads for the transport e2e tests: a TCP stream whose content is checked
 * end to end (byte count + SHA-256 on both sides), UDP datagrams, and an underlay packet capture.
 * Every payload carries MARKER so a capture can prove none of it crossed the underlay in clear.
 */

import { readFile } from 'node:fs/promises'
import { execa, type ResultPromise } from 'execa'
import { scaled } from '../../daemon/base/time-scale.js'
import type { LabHandle } from './helpers/lab.js'

export const MARKER = 'LATCH-E2E-PLAINTEXT-MARKER'

const RECEIVER = `
import socket, hashlib, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60)
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
`

const SENDER = `
import socket, hashlib, signal, sys, time
host, port, secs, marker = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
stop = []
signal.signal(signal.SIGUSR1, lambda *_: stop.append(1))
deadline = time.time() + 10
while True:
    try:
        c = socket.create_connection((host, port), timeout=5); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.1)
h = hashlib.sha256(); n = 0; i = 0; end = time.time() + secs
while time.time() < end and not stop:
    chunk = ('%s-%08d|' % (marker, i)).encode() * 400
    c.sendall(chunk); h.update(chunk); n += len(chunk); i += 1
    time.sleep(0.005)
c.shutdown(socket.SHUT_WR)
c.settimeout(60)
while c.recv(65536): pass
print(n, h.hexdigest(), flush=True)
`

export interface StreamResult {
  sent: { bytes: number; sha256: string }
  received: { bytes: number; sha256: string }
}

function parseLine(out: string, who: string): { bytes: number; sha256: string } {
  const m = /^(\d+) ([0-9a-f]{64})$/m.exec(out)
  if (!m) throw new Error(`${who} printed no result: ${out}`)
  return { bytes: Number(m[1]), sha256: m[2]! }
}

/** A running stream: call it to wait for both ends' counts. */
export interface Stream {
  (): Promise<StreamResult>
  /** Ends the stream before its length (SIGUSR1: the sender finishes its chunk and closes). */
  stop(): void
}

/** A TCP stream of at most `seconds` from workload `from` to workload `to` (port 5001). */
export async function startStream(
  lab: LabHandle,
  from: string,
  to: string,
  seconds: number,
  port = 5001,
): Promise<Stream> {
  const { child: receiver } = await lab.spawn(to, ['python3', '-c', RECEIVER, String(port)])
  const { child: sender } = await lab.spawn(from, [
    'python3',
    '-c',
    SENDER,
    lab.workload(to).ip,
    String(port),
    String(seconds),
    MARKER,
  ])
  const result = async () => {
    const [s, r] = await Promise.all([sender, receiver])
    return {
      sent: parseLine(String(s.stdout), `sender in ${from} (${String(s.stderr)})`),
      received: parseLine(String(r.stdout), `receiver in ${to} (${String(r.stderr)})`),
    }
  }
  // nsenter execs the command: the child is the sender itself
  return Object.assign(result, { stop: () => void sender.kill('SIGUSR1') })
}

const UDP_RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[1]))); s.settimeout(20)
data, addr = s.recvfrom(65536)
print(addr[0], data.decode(), flush=True)
`

const UDP_SENDER = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(40):
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2]))); time.sleep(0.1)
`

/** One UDP datagram from `from` to `to`; returns "<source ip> <payload>" as the receiver saw it. */
export async function udpExchange(lab: LabHandle, from: string, to: string, port = 5002): Promise<string> {
  const { child: receiver } = await lab.spawn(to, ['python3', '-c', UDP_RECEIVER, String(port)])
  await new Promise((r) => setTimeout(r, 300))
  const { child: sender } = await lab.spawn(from, [
    'python3',
    '-c',
    UDP_SENDER,
    lab.workload(to).ip,
    String(port),
    `${MARKER}-udp`,
  ])
  const r = await receiver
  sender.kill('SIGTERM')
  await sender
  return String(r.stdout).trim()
}

/** A packet capture on the underlay bridge, written to `file` until stopped. */
export async function startCapture(file: string, netns: string, iface: string): Promise<() => Promise<void>> {
  const proc: ResultPromise = execa(
    'ip',
    ['netns', 'exec', netns, 'tcpdump', '-i', iface, '-nn', '-U', '-w', file],
    {
      reject: false,
      stdin: 'ignore',
      buffer: true,
    },
  )
  // tcpdump says "listening on …" once the capture runs
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('tcpdump did not start')), scaled(10_000))
    proc.stderr?.on('data', (d: Buffer) => {
      if (String(d).includes('listening on')) {
        clearTimeout(t)
        resolve()
      }
    })
  })
  return async () => {
    proc.kill('SIGINT')
    await proc
  }
}

export interface CaptureVerdict {
  packets: number
  /** Tunnel packets between node addresses: WireGuard UDP, or ESP with `transport: 'ipsec'`. */
  tunnel: number
  wireguard: number
  esp: number
  handshake: number
  unexpected: string[]
  markerFound: boolean
}

const WG = /^\S+ IP (10\.99\.0\.\d+)\.51820 > (10\.99\.0\.\d+)\.51820: UDP/
const ESP = /^\S+ IP (10\.99\.0\.\d+) > (10\.99\.0\.\d+): ESP\(spi=0x[0-9a-f]+,seq=0x[0-9a-f]+\)/
const TCP = /^\S+ IP 10\.99\.0\.\d+\.(\d+) > 10\.99\.0\.\d+\.(\d+): (Flags|tcp)/
const ARP = /^\S+ ARP, /
// link-local IPv6 control (router/neighbour solicitation, MLD) the kernel sends on any new link
const IP6_LINK_CONTROL = /^\S+ IP6 fe80::\S+ > ff02::\S+: (ICMP6|HBH)/

/**
 * Classify every packet: only the tunnel (WireGuard, or ESP for `ipsec`) between node addresses, the
 * handshake port, ARP. The other transport's packets count as unexpected.
 */
export async function judgeCapture(
  file: string,
  transport: 'wireguard' | 'ipsec' = 'wireguard',
): Promise<CaptureVerdict> {
  const raw = await readFile(file)
  const text = (await execa('tcpdump', ['-nn', '-r', file], { reject: false })).stdout
  const lines = text.split('\n').filter(Boolean)
  const v: CaptureVerdict = {
    packets: lines.length,
    tunnel: 0,
    wireguard: 0,
    esp: 0,
    handshake: 0,
    unexpected: [],
    markerFound: raw.includes(Buffer.from(MARKER)),
  }
  for (const l of lines) {
    if (transport === 'wireguard' && WG.test(l)) v.wireguard++
    else if (transport === 'ipsec' && ESP.test(l)) v.esp++
    else if (TCP.test(l) && [TCP.exec(l)![1], TCP.exec(l)![2]].includes('7443')) v.handshake++
    else if (!ARP.test(l) && !IP6_LINK_CONTROL.test(l)) v.unexpected.push(l)
  }
  v.tunnel = v.wireguard + v.esp
  return v
}

/**
 * Streams for the trust-lifecycle e2e test that also measure continuity: a TCP stream and a UDP
 * stream between lab workloads, running until a stop file appears, each reporting bytes, SHA-256 (both ends) and the longest gap between
 * two arrivals at the receiver. UDP datagrams carry a sequence number; the receiver hashes them in
 * sequence order and counts them, so a lost datagram shows as unequal bytes/hashes.
 */
import type { LabHandle } from './helpers/lab.js'

const TCP_RECEIVER = `
import socket, hashlib, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1); s.settimeout(120)
c, _ = s.accept(); c.settimeout(120)
h = hashlib.sha256(); n = 0; last = time.time(); gap = 0.0
while True:
    b = c.recv(65536)
    now = time.time(); gap = max(gap, now - last); last = now
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), '%.3f' % gap, flush=True)
`

const TCP_SENDER = `
import socket, hashlib, sys, time, os
host, port, secs, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
deadline = time.time() + 10
while True:
    try:
        c = socket.create_connection((host, port), timeout=5); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.1)
h = hashlib.sha256(); n = 0; i = 0; end = time.time() + secs
while time.time() < end and not os.path.exists(stop):
    chunk = ('trust-tcp-%08d|' % i).encode() * 100
    c.sendall(chunk); h.update(chunk); n += len(chunk); i += 1
    time.sleep(0.01)
c.shutdown(socket.SHUT_WR)
c.settimeout(60)
while c.recv(65536): pass
print(n, h.hexdigest(), flush=True)
`

const UDP_RECEIVER = `
import socket, hashlib, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[1]))); s.settimeout(120)
got = {}; last = None; gap = 0.0
while True:
    data, _ = s.recvfrom(65536)
    now = time.time()
    if last is not None: gap = max(gap, now - last)
    last = now
    if data.startswith(b'END'): break
    got[int(data[:8])] = data
h = hashlib.sha256(); n = 0
for k in sorted(got): h.update(got[k]); n += len(got[k])
print(n, h.hexdigest(), '%.3f' % gap, len(got), flush=True)
`

const UDP_SENDER = `
import socket, hashlib, sys, time, os
host, port, secs, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
h = hashlib.sha256(); n = 0; i = 0; end = time.time() + secs
while time.time() < end and not os.path.exists(stop):
    d = ('%08d' % i).encode() + b'-trust-udp-' * 20
    s.sendto(d, (host, port)); h.update(d); n += len(d); i += 1
    time.sleep(0.01)
time.sleep(0.5)
for _ in range(20):
    s.sendto(b'END', (host, port)); time.sleep(0.05)
print(n, h.hexdigest(), i, flush=True)
`

export interface Measured {
  sent: { bytes: number; sha256: string }
  received: { bytes: number; sha256: string; maxGapSeconds: number }
}

function line(out: string, who: string): string[] {
  const l = out.trim().split('\n').at(-1) ?? ''
  const parts = l.split(' ')
  if (!/^\d+$/.test(parts[0] ?? '') || !/^[0-9a-f]{64}$/.test(parts[1] ?? ''))
    throw new Error(`${who} printed no result: ${out}`)
  return parts
}

async function measured(
  lab: LabHandle,
  from: string,
  to: string,
  port: number,
  seconds: number,
  stopFile: string,
  scripts: [string, string],
): Promise<() => Promise<Measured>> {
  const { child: receiver } = await lab.spawn(to, ['python3', '-c', scripts[0], String(port)])
  await new Promise((r) => setTimeout(r, 300))
  const { child: sender } = await lab.spawn(from, [
    'python3',
    '-c',
    scripts[1],
    lab.workload(to).ip,
    String(port),
    String(seconds),
    stopFile,
  ])
  return async () => {
    const [s, r] = await Promise.all([sender, receiver])
    const sl = line(String(s.stdout), `sender in ${from} (${String(s.stderr)})`)
    const rl = line(String(r.stdout), `receiver in ${to} (${String(r.stderr)})`)
    return {
      sent: { bytes: Number(sl[0]), sha256: sl[1] as string },
      received: { bytes: Number(rl[0]), sha256: rl[1] as string, maxGapSeconds: Number(rl[2]) },
    }
  }
}

/** A TCP stream that runs until `stopFile` exists (at most `seconds`). */
export const tcpStream = (
  lab: LabHandle,
  from: string,
  to: string,
  seconds: number,
  stopFile: string,
  port = 5011,
) => measured(lab, from, to, port, seconds, stopFile, [TCP_RECEIVER, TCP_SENDER])

/** A UDP stream (100 datagrams/s) that runs until `stopFile` exists (at most `seconds`). */
export const udpStream = (
  lab: LabHandle,
  from: string,
  to: string,
  seconds: number,
  stopFile: string,
  port = 5012,
) => measured(lab, from, to, port, seconds, stopFile, [UDP_RECEIVER, UDP_SENDER])

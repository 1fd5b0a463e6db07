/**
 * Traffic probes for e2e tests, by target name and destination IP: one TCP connect + echo with its
 * connect time, the client netns's SYN retransmission counters (nstat), and numbered UDP datagrams.
 */
import { scaled } from '../../../daemon/base/time-scale.js'
import { labExec, labSpawn } from './lab.js'

// one TCP connect + echo; prints "<connect ms> <echo ok>" or "fail <error>"
const CONNECT = `
import socket, sys, time
t = time.monotonic()
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    ms = (time.monotonic() - t) * 1000
    c.settimeout(3); c.sendall(b'ping\\n'); ok = c.recv(16) == b'ping\\n'
    print('%.3f %s' % (ms, ok), flush=True)
except OSError as e:
    print('fail %s' % e, flush=True)
`

export async function tcpConnect(from: string, toIp: string, port: number, timeoutS = 2) {
  const r = await labExec(from, ['python3', '-c', CONNECT, toIp, String(port), String(timeoutS)], {
    timeoutMs: (timeoutS + 5) * 1000,
  })
  const [first, second] = r.stdout.trim().split(' ')
  return first === 'fail' || first === undefined
    ? { ok: false as const, error: r.stdout.trim() || r.stderr }
    : { ok: second === 'True', connectMs: Number(first) }
}

/** The netns's SYN retransmissions and retransmitted segments (absolute counters). */
export async function retransmits(from: string): Promise<{ syn: number; segs: number }> {
  const r = await labExec(from, ['nstat', '-asz', 'TcpExtTCPSynRetrans', 'TcpRetransSegs'])
  const v = (name: string) => Number(new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(r.stdout)?.[1] ?? Number.NaN)
  return { syn: v('TcpExtTCPSynRetrans'), segs: v('TcpRetransSegs') }
}

const UDP_RECV = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[1])))
print('ready', flush=True)
end = time.time() + float(sys.argv[2])
while True:
    left = end - time.time()
    if left <= 0: break
    s.settimeout(left)
    try:
        d, a = s.recvfrom(2048); print(d.decode(), flush=True)
    except socket.timeout:
        break
`
const UDP_SEND = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[3])):
    s.sendto(('seq-%d' % i).encode(), (sys.argv[1], int(sys.argv[2]))); time.sleep(0.05)
`

/** Sends `count` datagrams from → to (its IP); resolves with the sequence numbers the receiver got. */
export async function udpSeqs(
  from: string,
  to: string,
  toIp: string,
  port: number,
  count = 5,
): Promise<number[]> {
  const { child: recv } = await labSpawn(to, ['python3', '-c', UDP_RECV, String(port), '2.5'])
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`UDP receiver in ${to} did not start`)), scaled(10_000))
    recv.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('ready')) {
        clearTimeout(t)
        resolve()
      }
    })
  })
  await labExec(from, ['python3', '-c', UDP_SEND, toIp, String(port), String(count)])
  const r = await recv
  return String(r.stdout)
    .split('\n')
    .flatMap((l) => (/^seq-(\d+)$/.exec(l.trim()) ? [Number(l.trim().slice(4))] : []))
}

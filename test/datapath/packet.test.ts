import test from 'ava'
import { arpFrame, frame, inetChecksum } from '../../daemon/datapath/packet.js'

test('the internet checksum of RFC 1071 section 3 example data is right', (t) => {
  // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums (one's complement) to 0xddf2; the checksum is ~0xddf2
  t.is(inetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])), ~0xddf2 & 0xffff)
})

test('an IPv4 header checksums to zero once its checksum field is filled in', (t) => {
  const f = frame({ src: '10.100.1.11', dst: '10.100.2.11', l4: { proto: 'udp', sport: 1, dport: 2 } })
  t.is(inetChecksum(f.subarray(14, 34)), 0)
})

for (const proto of ['tcp', 'udp'] as const) {
  test(`a ${proto} segment over IPv4 verifies against its pseudo-header`, (t) => {
    const f = frame({ src: '10.0.0.1', dst: '10.0.0.2', l4: { proto, sport: 40000, dport: 443 } })
    const l4 = f.subarray(34)
    const pseudo = Buffer.alloc(12)
    f.copy(pseudo, 0, 26, 34)
    pseudo[9] = proto === 'tcp' ? 6 : 17
    pseudo.writeUInt16BE(l4.length, 10)
    t.is(inetChecksum(pseudo, l4), 0)
    t.is(f.readUInt16BE(34), 40000)
    t.is(f.readUInt16BE(36), 443)
  })
}

test('an ICMP echo over IPv4 has a valid ICMP checksum and lengths', (t) => {
  const f = frame({ src: '10.0.0.1', dst: '10.0.0.2', l4: { proto: 'icmp', type: 8, code: 0 } })
  t.is(f.readUInt16BE(12), 0x0800)
  t.is(f.readUInt16BE(16), 20 + 8)
  t.is(inetChecksum(f.subarray(34)), 0)
})

test('an IPv6 UDP frame carries next header 17 and a valid checksum', (t) => {
  const f = frame({ src: 'fd00::1', dst: 'fd00::2', l4: { proto: 'udp', sport: 5, dport: 6 } })
  t.is(f.readUInt16BE(12), 0x86dd)
  t.is(f[14 + 6], 17)
  const l4 = f.subarray(54)
  const pseudo = Buffer.alloc(40)
  f.copy(pseudo, 0, 22, 54)
  pseudo.writeUInt32BE(l4.length, 32)
  pseudo[39] = 17
  t.is(inetChecksum(pseudo, l4), 0)
})

test('an ARP frame is not IP', (t) => {
  t.is(arpFrame().readUInt16BE(12), 0x0806)
})

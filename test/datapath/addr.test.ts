import test from 'ava'
import { bytesToIp, formatPrefix, ipToBytes, parsePrefix } from '../../daemon/datapath/addr.js'

const prefixes: [string, number, string][] = [
  ['10.100.1.0/24', 96 + 24, '10.100.1.0/24'],
  ['10.100.1.11', 128, '10.100.1.11/32'],
  ['10.100.1.11/32', 128, '10.100.1.11/32'],
  ['0.0.0.0/0', 96, '0.0.0.0/0'],
  ['fd00:100:2::/64', 64, 'fd00:100:2::/64'],
  ['fd00::5', 128, 'fd00::5/128'],
]

for (const [input, prefixlen, printed] of prefixes) {
  test(`${input} is an ipcache prefix of ${prefixlen} bits printed as ${printed}`, (t) => {
    const p = parsePrefix(input)
    t.is(p.prefixlen, prefixlen)
    t.is(p.addr.length, 16)
    t.is(formatPrefix(p), printed)
  })
}

test('an IPv4 address is stored IPv4-mapped', (t) => {
  t.deepEqual([...ipToBytes('10.1.2.3')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3])
  t.is(bytesToIp(ipToBytes('10.1.2.3')), '10.1.2.3')
  t.is(bytesToIp(ipToBytes('fd00::1')), 'fd00::1')
})

const badPrefixes: [string, string][] = [
  ['10.100.1.7/24', 'LATCH_ERR_NET_BAD_CIDR'],
  ['10.100.1.0/33', 'LATCH_ERR_NET_BAD_CIDR'],
  ['10.100.1.0/x', 'LATCH_ERR_NET_BAD_CIDR'],
  ['nonsense/8', 'LATCH_ERR_NET_BAD_CIDR'],
  ['10.1', 'LATCH_ERR_NET_BAD_IP'],
  ['fe80::1%eth0', 'LATCH_ERR_NET_BAD_IP'],
]

for (const [input, code] of badPrefixes) {
  test(`"${input}" is refused with ${code}`, (t) => {
    const err = t.throws(() => parsePrefix(input))
    t.is((err as { code?: string }).code, code)
  })
}

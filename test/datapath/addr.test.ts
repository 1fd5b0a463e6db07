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
  ['10.1.2.3.4', 'LATCH_ERR_NET_BAD_IP'],
  ['10.01.2.3', 'LATCH_ERR_NET_BAD_IP'],
  ['10.1.2.256', 'LATCH_ERR_NET_BAD_IP'],
  ['10.1..3', 'LATCH_ERR_NET_BAD_IP'],
  ['10.1.2.3/', 'LATCH_ERR_NET_BAD_CIDR'],
  ['10.1.2.3/0032', 'LATCH_ERR_NET_BAD_CIDR'],
  ['10.1.2.129/25', 'LATCH_ERR_NET_BAD_CIDR'],
  ['fe80::1%eth0', 'LATCH_ERR_NET_BAD_IP'],
]

for (const [input, code] of badPrefixes) {
  test(`"${input}" is refused with ${code}`, (t) => {
    const err = t.throws(() => parsePrefix(input))
    t.is((err as { code?: string }).code, code)
  })
}

// The IPv4 fast path (no ipaddr.js) against ipaddr.js itself, the reference, on edge and random
// inputs: the same bytes and prefix length, or both refuse.
test('IPv4 addresses and CIDRs parse exactly as ipaddr.js parses them', async (t) => {
  const { default: ipaddr } = await import('ipaddr.js')
  const reference = (s: string): { prefixlen: number; addr: number[] } | 'refused' => {
    const [ip = '', len] = s.split('/')
    if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return 'refused'
    const a = ipaddr.IPv4.parse(ip)
    const bytes = a.toIPv4MappedAddress().toByteArray()
    if (len === undefined) return { prefixlen: 128, addr: bytes }
    if (!/^\d{1,3}$/.test(len) || Number(len) > 32) return 'refused'
    if (ipaddr.IPv4.networkAddressFromCIDR(s).toString() !== a.toString()) return 'refused'
    return { prefixlen: 96 + Number(len), addr: bytes }
  }
  const ours = (s: string): { prefixlen: number; addr: number[] } | 'refused' => {
    try {
      const p = parsePrefix(s)
      return { prefixlen: p.prefixlen, addr: [...p.addr] }
    } catch {
      return 'refused'
    }
  }
  const inputs = [
    '0.0.0.0',
    '255.255.255.255',
    '255.255.255.255/32',
    '128.0.0.0/1',
    '0.0.0.0/32',
    '1.2.3.4/31',
  ]
  let seed = 17
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  for (let i = 0; i < 5000; i++) {
    const octet = () => String([0, 1, 9, 10, 99, 100, 127, 128, 254, 255, 256, rnd(300)][rnd(12)])
    const ip = [octet(), octet(), octet(), octet()].join('.')
    inputs.push(ip, `${ip}/${rnd(34)}`)
    if (rnd(10) === 0) inputs.push(`${ip}/0${rnd(40)}`)
  }
  for (const s of inputs) t.deepEqual(ours(s), reference(s), s)
})

import test from 'ava'
import ipaddr from 'ipaddr.js'
import {
  canonicalInterfaceAddress,
  canonicalPrefix,
  prefixBytes,
  prefixesOverlap,
} from '../../daemon/transport/addr.js'

/**
 * The plain-IPv4 fast path of the transport's prefix helpers against ipaddr.js, the reference (the
 * helpers' behaviour before it), on edge and pseudo-random inputs: same text, same bytes, same
 * overlap answer, or both refuse.
 */
function networkText(cidr: string): string | undefined {
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr.trim())
    const b = addr.toByteArray()
    for (let bit = len; bit < b.length * 8; bit++) b[bit >> 3] = (b[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7))
    return `${ipaddr.fromByteArray(b).toString()}/${len}`
  } catch {
    return undefined
  }
}
function interfaceText(cidr: string): string | undefined {
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr.trim())
    return `${addr.toString()}/${len}`
  } catch {
    return undefined
  }
}

function inputs(): string[] {
  const out = ['0.0.0.0/0', '255.255.255.255/32', '10.1.2.3/032', '10.1.2.3/33', '010.1.2.3/8', ' 10.1.2.3/8']
  out.push(
    '10.1.2/24',
    '10.1.2.3.4/24',
    '10.1.2.3',
    '10.1.2.3/',
    '10.1.2.3/x',
    'fd00::1/64',
    '::ffff:10.1.2.3/120',
  )
  let seed = 7
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const octet = () => String([0, 1, 9, 10, 99, 100, 127, 128, 254, 255, 256, rnd(300)][rnd(12)])
  for (let i = 0; i < 4000; i++) out.push(`${octet()}.${octet()}.${octet()}.${octet()}/${rnd(35)}`)
  return out
}

test('canonicalPrefix and canonicalInterfaceAddress equal ipaddr.js on IPv4 and IPv6 inputs', (t) => {
  for (const s of inputs()) {
    t.is(canonicalPrefix(s), networkText(s), s)
    t.is(canonicalInterfaceAddress(s), interfaceText(s), s)
  }
})

test('prefixBytes equals ipaddr.js bytes', (t) => {
  for (const s of inputs()) {
    if (interfaceText(s) === undefined || s !== s.trim()) continue
    const [addr, len] = ipaddr.parseCIDR(s)
    const r = prefixBytes(s)
    t.deepEqual([...r.bytes], addr.toByteArray(), s)
    t.is(r.len, len, s)
    t.is(r.family, addr.kind() === 'ipv6' ? 6 : 4, s)
  }
})

test('prefixesOverlap equals ipaddr.js match at the shorter length', (t) => {
  const valid = inputs().filter((s) => interfaceText(s) !== undefined && s === s.trim() && !s.includes(':'))
  for (let i = 0; i + 1 < valid.length; i++) {
    const a = valid[i]!
    const b = valid[(i * 7) % valid.length]!
    const [x, lx] = ipaddr.parseCIDR(a)
    const [y, ly] = ipaddr.parseCIDR(b)
    t.is(prefixesOverlap(a, b), x.match(y, Math.min(lx, ly)), `${a} ${b}`)
  }
  t.true(prefixesOverlap('10.0.0.0/8', '10.200.1.0/24'))
  t.false(prefixesOverlap('10.0.0.0/8', '11.0.0.0/8'))
  t.true(prefixesOverlap('0.0.0.0/0', '1.2.3.4/32'))
})

import test from 'ava'
import { parsePortSpec } from '../../daemon/policy/index.js'
import { PortSet, type PortSpec, protocolIndex } from '../../daemon/policy/ports.js'

const good: [string, string, number, number][] = [
  ['tcp/5432', 'tcp/5432', 5432, 5432],
  ['udp/53', 'udp/53', 53, 53],
  ['tcp/8000-8080', 'tcp/8000-8080', 8000, 8080],
  ['tcp/80-80', 'tcp/80', 80, 80],
  ['sctp/1-65535', 'sctp/1-65535', 1, 65535],
  ['tcp', 'tcp', 0, 65535],
  ['icmp', 'icmp', 0, 65535],
  ['icmpv6', 'icmpv6', 0, 65535],
]

for (const [input, text, low, high] of good) {
  test(`"${input}" parses as ${text}`, (t) => {
    const r = parsePortSpec(input)
    t.true(r.ok)
    if (r.ok) t.like(r.spec, { text, low, high })
  })
}

const bad: [string, RegExp, boolean?][] = [
  ['', /empty/],
  [' tcp/80', /surrounding spaces/],
  ['80/tcp', /write tcp\/80/],
  ['tcp/', /is not a port number/],
  ['tcp/-5', /is not a port number/],
  ['tcp/0x50', /is not a port number/],
  ['tcp/65536', /out of range/],
  ['tcp/100-99', /ends before it starts/],
  ['tcp/1-2-3', /is not a port number/],
  ['udp/1.5', /is not a port number/],
  ['icmp/0', /icmp has no ports/],
  ['Udp/53', /lowercase/],
  ['gre', /unknown protocol "gre"/],
  ['*', /leave out ports/],
  ['tcp', /a test checks one port/, true],
  ['tcp/1-9', /not a range/, true],
]

for (const [input, pattern, single] of bad) {
  test(`"${input}" is refused${single ? ' as a test port' : ''}`, (t) => {
    const r = parsePortSpec(input, { single: single === true })
    t.false(r.ok)
    if (!r.ok) t.regex(r.problem, pattern)
  })
}

function specs(...inputs: string[]): PortSpec[] {
  return inputs.map((i) => {
    const r = parsePortSpec(i)
    if (!r.ok) throw new Error(r.problem)
    return r.spec
  })
}

test('a port set merges overlapping and adjacent ranges and sorts them', (t) => {
  const set = PortSet.of(specs('tcp/90-100', 'tcp/80', 'tcp/81-85', 'tcp/95-120', 'udp/53', 'icmp', 'tcp/86'))
  t.deepEqual(set.describe(), ['tcp/80-86', 'tcp/90-120', 'udp/53', 'icmp'])
})

const lookups: [string, number | undefined, boolean][] = [
  ['tcp', 79, false],
  ['tcp', 80, true],
  ['tcp', 86, true],
  ['tcp', 87, false],
  ['tcp', 89, false],
  ['tcp', 90, true],
  ['tcp', 120, true],
  ['tcp', 121, false],
  ['tcp', undefined, true],
  ['udp', 53, true],
  ['udp', 54, false],
  ['sctp', undefined, false],
  ['icmp', undefined, true],
  ['icmp', 8, true],
  ['icmpv6', undefined, false],
]

for (const [proto, port, want] of lookups) {
  test(`a port set with tcp/80-86, tcp/90-120, udp/53, icmp ${want ? 'allows' : 'refuses'} ${proto}${port === undefined ? '' : `/${port}`}`, (t) => {
    const set = PortSet.of(specs('tcp/80-86', 'tcp/90-120', 'udp/53', 'icmp'))
    t.is(set.has(proto as 'tcp', port), want)
  })
}

test('protocols are also accepted as IANA numbers, and unnamed ones need a rule without ports', (t) => {
  const set = PortSet.of(specs('tcp/443', 'icmpv6'))
  t.true(set.has(6, 443))
  t.false(set.has(17, 443))
  t.true(set.has(58))
  t.false(set.has(47))
  t.true(PortSet.ANY.has(47))
  t.true(PortSet.ANY.has('udp', 9))
  t.is(protocolIndex(132), protocolIndex('sctp'))
})

test('a bare protocol allows every port of it', (t) => {
  const set = PortSet.of(specs('udp'))
  t.true(set.has('udp', 1))
  t.true(set.has('udp', 65535))
  t.false(set.has('tcp', 1))
  t.deepEqual(set.describe(), ['udp'])
})

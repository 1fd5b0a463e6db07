import test from 'ava'
import { cidrsWithin, parseCidr, parseIp, uniqueIps } from '../../certs/net.js'
import { isLatchError } from '../../daemon/base/errors.js'

const goodCidrs: Array<[string, string]> = [
  ['10.100.1.0/24', '10.100.1.0/24'],
  ['0.0.0.0/0', '0.0.0.0/0'],
  ['fd00:1:0::/64', 'fd00:1::/64'],
  ['10.1.2.3/32', '10.1.2.3/32'],
]
for (const [input, text] of goodCidrs) {
  test(`parseCidr accepts ${input} as ${text}`, (t) => {
    t.is(parseCidr(input).text, text)
  })
}

const badCidrs: Array<[string, string, RegExp]> = [
  ['host bits set', '10.100.1.7/24', /host bits are set; the network is 10\.100\.1\.0\/24/],
  ['no prefix', '10.100.1.0', /ADDRESS\/PREFIX/],
  ['a prefix over 32', '10.0.0.0/33', /0 to 32/],
  ['a prefix over 128', 'fd00::/129', /0 to 128/],
  ['a negative prefix', '10.0.0.0/-1', /prefix length/],
  ['garbage', 'banana/8', /not an IP address/],
  ['a short IPv4 form', '10.1/16', /not an IP address/],
]
for (const [what, input, message] of badCidrs) {
  test(`parseCidr rejects ${what} with LATCH_ERR_NET_BAD_CIDR`, (t) => {
    const err = t.throws(() => parseCidr(input))
    t.true(isLatchError(err, 'LATCH_ERR_NET_BAD_CIDR'))
    t.regex(err.message, message)
  })
}

const badIps: Array<[string, string]> = [
  ['an octet over 255', '10.0.0.256'],
  ['three octets', '10.0.1'],
  ['hex octets', '0x0a.0.0.1'],
  ['a zone ID', 'fe80::1%eth0'],
  ['two "::"', 'fd00::1::2'],
  ['an empty string', ''],
]
for (const [what, input] of badIps) {
  test(`parseIp rejects ${what} with LATCH_ERR_NET_BAD_IP`, (t) => {
    t.true(
      isLatchError(
        t.throws(() => parseIp(input)),
        'LATCH_ERR_NET_BAD_IP',
      ),
    )
  })
}

test('uniqueIps canonicalises and removes duplicates in order', (t) => {
  t.deepEqual(uniqueIps(['10.0.0.2', 'FD00:0::1', '10.0.0.2', 'fd00::1']), ['10.0.0.2', 'fd00::1'])
})

test('cidrsWithin returns exactly the entries not covered by the permitted ranges', (t) => {
  const permitted = ['10.100.1.0/24', 'fd00:1::/64']
  t.deepEqual(cidrsWithin(['10.100.1.0/25', '10.100.1.7', 'fd00:1::/80'], permitted), [])
  t.deepEqual(cidrsWithin(['10.100.0.0/16', '10.100.2.0/24', 'fd00:2::/64', '10.100.1.128/25'], permitted), [
    '10.100.0.0/16',
    '10.100.2.0/24',
    'fd00:2::/64',
  ])
  t.deepEqual(cidrsWithin(['10.0.0.0/8'], []), ['10.0.0.0/8'], 'nothing permitted covers nothing')
})

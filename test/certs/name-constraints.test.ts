import test from 'ava'
import {
  type CertNames,
  nameConstraintViolation,
  type ParsedNameConstraints,
  uriHost,
} from '../../certs/name-constraints.js'

const hosts: Array<[string, string | undefined]> = [
  ['spiffe://lab.latch/ns/a', 'lab.latch'],
  ['spiffe://Lab.Latch', 'lab.latch'],
  ['https://user@example.org:8443/x', 'example.org'],
  ['urn:uuid:1234', undefined],
  ['spiffe:///x', undefined],
]
for (const [uri, host] of hosts) {
  test(`uriHost(${uri}) is ${host}`, (t) => {
    t.is(uriHost(uri), host)
  })
}

const nc = (over: Partial<ParsedNameConstraints>): ParsedNameConstraints => ({
  permittedCidrs: [],
  permittedUris: [],
  permittedDns: [],
  excludedCidrs: [],
  excludedUris: [],
  excludedDns: [],
  other: [],
  ...over,
})
const names = (over: Partial<CertNames>): CertNames => ({ ips: [], uris: [], dns: [], other: [], ...over })

const cases: Array<[string, CertNames, ParsedNameConstraints, RegExp | undefined]> = [
  [
    'an IP inside a permitted range passes',
    names({ ips: ['10.0.0.5'] }),
    nc({ permittedCidrs: ['10.0.0.0/24'] }),
    undefined,
  ],
  [
    'an IP outside every permitted range fails',
    names({ ips: ['10.0.1.5'] }),
    nc({ permittedCidrs: ['10.0.0.0/24'] }),
    /outside the permitted ranges/,
  ],
  [
    'an IPv4 address under IPv6-only ranges fails',
    names({ ips: ['10.0.0.5'] }),
    nc({ permittedCidrs: ['fd00::/8'] }),
    /outside/,
  ],
  [
    'an IP in an excluded range fails',
    names({ ips: ['10.0.0.5'] }),
    nc({ excludedCidrs: ['10.0.0.0/29'] }),
    /excluded range/,
  ],
  [
    'IPs are unconstrained when only URIs are',
    names({ ips: ['192.0.2.1'] }),
    nc({ permittedUris: ['lab.latch'] }),
    undefined,
  ],
  [
    'a URI on the exact permitted host passes',
    names({ uris: ['spiffe://lab.latch/x'] }),
    nc({ permittedUris: ['lab.latch'] }),
    undefined,
  ],
  [
    'a URI on a subdomain of an exact host fails',
    names({ uris: ['spiffe://a.lab.latch/x'] }),
    nc({ permittedUris: ['lab.latch'] }),
    /outside the permitted hosts/,
  ],
  [
    'a URI on a subdomain passes a ".host" constraint',
    names({ uris: ['spiffe://a.lab.latch/x'] }),
    nc({ permittedUris: ['.lab.latch'] }),
    undefined,
  ],
  [
    'a URI without a host fails when URIs are constrained',
    names({ uris: ['urn:x:y'] }),
    nc({ permittedUris: ['lab.latch'] }),
    /no host/,
  ],
  [
    'a DNS name below a permitted domain passes',
    names({ dns: ['a.example.org'] }),
    nc({ permittedDns: ['example.org'] }),
    undefined,
  ],
  [
    'a DNS name that only ends like the domain fails',
    names({ dns: ['badexample.org'] }),
    nc({ permittedDns: ['example.org'] }),
    /outside the permitted domains/,
  ],
  [
    'an unevaluated constraint type fails closed',
    names({ other: ['email:a@b'] }),
    nc({ other: ['rfc822Name'] }),
    /does not evaluate/,
  ],
]
for (const [what, n, c, expected] of cases) {
  test(what, (t) => {
    const why = nameConstraintViolation(n, c)
    if (expected === undefined) t.is(why, undefined)
    else t.regex(why ?? '', expected)
  })
}

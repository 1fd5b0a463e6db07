import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { LatchLimits } from '../../daemon/datapath/index.js'
import { compilePolicy, type PolicyProblem } from '../../daemon/policy/index.js'
import { MAX_RULES } from '../../daemon/policy/validate.js'

interface Case {
  name: string
  text: string
  /** Every expected problem: "LINE:COL" and a pattern its message must match. */
  want: [string, RegExp][]
}

const HEAD = 'version: 1\ntrustDomain: example.org\n'
const A = 'spiffe://example.org/ns/a/sa/x'
const B = 'spiffe://example.org/ns/b/sa/y'

const cases: Case[] = [
  { name: 'an empty file', text: '', want: [['1:1', /the policy file is empty/]] },
  { name: 'a file that is a list', text: '- a\n', want: [['1:1', /must be a map.*found a list/]] },
  { name: 'a YAML syntax error', text: `${HEAD}allow: [\n`, want: [['4:1', /YAML syntax/]] },
  {
    name: 'a duplicate key',
    text: `${HEAD}trustDomain: other.org\nallow: []\n`,
    want: [['3:1', /keys must be unique.*delete or merge/]],
  },
  {
    name: 'two YAML documents',
    text: `${HEAD}allow: []\n---\nversion: 1\n`,
    want: [['4:1', /more than one YAML document/]],
  },
  {
    name: 'a wrong version',
    text: 'version: 2\ntrustDomain: example.org\nallow: []\n',
    want: [['1:10', /version must be the number 1, found number 2/]],
  },
  {
    name: 'a version given as text',
    text: 'version: "1"\ntrustDomain: example.org\nallow: []\n',
    want: [['1:10', /found the text "1"/]],
  },
  {
    name: 'missing top-level keys',
    text: 'allow: []\n',
    want: [
      ['1:1', /missing "version"; add version: 1/],
      ['1:1', /missing "trustDomain"/],
    ],
  },
  { name: 'a missing allow', text: HEAD, want: [['1:1', /missing "allow".*allow: \[\] to deny everything/]] },
  {
    name: 'an allow with no value',
    text: `${HEAD}allow:\n`,
    want: [['3:1', /allow must be a list.*write allow: \[\]/]],
  },
  {
    name: 'an unknown top-level key with a suggestion',
    text: `${HEAD}allow: []\ntest: []\n`,
    want: [['4:1', /unknown key "test".*did you mean tests\?/]],
  },
  {
    name: 'an invalid trust domain',
    text: 'version: 1\ntrustDomain: Example.org\nallow: []\n',
    want: [['2:14', /not a valid trust domain: .*lowercase/]],
  },
  {
    name: 'an unknown key in a rule',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: ${B}\n    port: [tcp/1]\n`,
    want: [['6:5', /unknown key "port" in allow rule allow\[0\]; did you mean ports\?/]],
  },
  {
    name: 'a rule missing to',
    text: `${HEAD}allow:\n  - from: ${A}\n`,
    want: [['4:5', /allow\[0\] is missing "to"/]],
  },
  {
    name: 'a malformed SPIFFE ID',
    text: `${HEAD}allow:\n  - from: spiffe://example.org/ns//sa/x\n    to: ${B}\n`,
    want: [['4:11', /not a valid SPIFFE ID: the path has an empty segment/]],
  },
  {
    name: 'an ID that is not a SPIFFE URI',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: https://example.org/y\n`,
    want: [['5:9', /must start with "spiffe:\/\/"/]],
  },
  {
    name: 'a foreign trust domain',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: spiffe://other.org/ns/b/sa/y\n`,
    want: [['5:9', /trust domain "other.org", not this policy's trustDomain "example.org"/]],
  },
  {
    name: 'a wildcard identity',
    text: `${HEAD}allow:\n  - from: spiffe://example.org/ns/a/*\n    to: ${B}\n`,
    want: [['4:11', /wildcards are not supported/]],
  },
  {
    name: 'a node identity',
    text: `${HEAD}allow:\n  - from: spiffe://example.org/latch/node/n1\n    to: ${B}\n`,
    want: [['4:11', /is a node identity/]],
  },
  {
    name: 'an identity that is a number',
    text: `${HEAD}allow:\n  - from: 42\n    to: ${B}\n`,
    want: [['4:11', /allow\[0\]\.from must be a SPIFFE ID.*found number 42/]],
  },
  {
    name: 'bad port specs, each reported',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: ${B}\n    ports: [5432/tcp, udp/0, tcp/90-80, icmp/8, TCP/80, http/80, any, 53]\n`,
    want: [
      ['6:13', /puts the port first; write tcp\/5432/],
      ['6:23', /port 0 is out of range/],
      ['6:30', /range ends before it starts; write tcp\/80-90/],
      ['6:41', /icmp has no ports; write just icmp/],
      ['6:49', /lowercase \(tcp\/80\)/],
      ['6:57', /unknown protocol "http"/],
      ['6:66', /leave out ports/],
      ['6:71', /must be a port spec.*write tcp\/53 or udp\/53/],
    ],
  },
  {
    name: 'an empty ports list',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: ${B}\n    ports: []\n`,
    want: [['6:12', /empty list, which would allow nothing/]],
  },
  {
    name: 'a port listed twice in one rule',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: ${B}\n    ports: [tcp/80, tcp/80]\n`,
    want: [['6:21', /tcp\/80 is listed twice in this rule \(first at allow\[0\]\.ports\[0\]\)/]],
  },
  {
    name: 'a duplicate rule',
    text: `${HEAD}allow:\n  - from: ${A}\n    to: ${B}\n  - {from: ${A}, to: ${B}, ports: [tcp/1]}\n`,
    want: [['6:5', /duplicate rule: .* already allowed by allow\[0\] at line 4; merge the ports/]],
  },
  {
    name: 'a YAML alias instead of a rule',
    text: `${HEAD}allow:\n  - &r {from: ${A}, to: ${B}}\n  - *r\n`,
    want: [['5:5', /aliases \(\*name\) are not supported/]],
  },
  {
    name: 'a test with an unknown expectation',
    text: `${HEAD}allow: []\ntests:\n  - {from: ${A}, to: ${B}, expect: permit}\n`,
    want: [['5:88', /tests\[0\]\.expect must be allow or deny, not "permit"/]],
  },
  {
    name: 'a test with a port range',
    text: `${HEAD}allow: []\ntests:\n  - from: ${A}\n    to: ${B}\n    port: tcp/1-2\n    expect: deny\n`,
    want: [['7:11', /a test checks one port, not a range/]],
  },
  {
    name: 'a test naming a bare port protocol',
    text: `${HEAD}allow: []\ntests:\n  - from: ${A}\n    to: ${B}\n    port: udp\n    expect: deny\n`,
    want: [['7:11', /a test checks one port; write e\.g\. udp\/443/]],
  },
  {
    name: 'a test missing expect and with a foreign ID',
    text: `${HEAD}allow: []\ntests:\n  - from: ${A}\n    to: spiffe://other.org/x\n`,
    want: [
      ['5:5', /test tests\[0\] is missing "expect"; add expect: allow or expect: deny/],
      ['6:9', /trust domain "other.org"/],
    ],
  },
  {
    name: 'tests that are not a list',
    text: `${HEAD}allow: []\ntests: yes\n`,
    want: [['4:8', /tests must be a list.*found the text "yes"/]],
  },
]

function problemsOf(text: string): PolicyProblem[] {
  try {
    compilePolicy(text, { file: 'p.yaml' })
  } catch (err) {
    if (!isLatchError(err, 'LATCH_ERR_POLICY_INVALID')) throw err
    return err.details.problems as PolicyProblem[]
  }
  throw new Error('the policy compiled although it is invalid')
}

for (const c of cases) {
  test(`a policy with ${c.name} is rejected with line:col`, (t) => {
    const err = t.throws(() => compilePolicy(c.text, { file: 'p.yaml' }))
    t.true(isLatchError(err, 'LATCH_ERR_POLICY_INVALID'), String(err))
    const problems = problemsOf(c.text)
    t.is(problems.length, c.want.length, JSON.stringify(problems, null, 1))
    for (const [at, pattern] of c.want) {
      const [line, col] = at.split(':').map(Number)
      const hit = problems.find((p) => p.line === line && p.col === col && pattern.test(p.message))
      t.truthy(hit, `no problem at ${at} matching ${pattern}; got ${JSON.stringify(problems, null, 1)}`)
      t.true(err?.message.includes(`p.yaml:${at}: `), `message lists p.yaml:${at}`)
    }
  })
}

test('all problems of a file are reported at once, in file order', (t) => {
  const text = `version: 3\ntrustDomain: example.org\nallow:\n  - from: ${A}\n    to: spiffe://x.org/a\n    ports: [tcp/99999]\nextra: 1\n`
  const problems = problemsOf(text)
  t.deepEqual(
    problems.map((p) => `${p.line}:${p.col}`),
    ['1:10', '5:9', '6:13', '7:1'],
  )
  t.deepEqual(
    problems.map((p) => p.path),
    ['version', 'allow[0].to', 'allow[0].ports[0]', 'extra'],
  )
})

test('an empty allow list is valid and denies everything', (t) => {
  const p = compilePolicy(`${HEAD}allow: []\n`, { file: 'p.yaml' })
  t.is(p.rules.length, 0)
  t.false(p.allows(A, B))
  t.deepEqual(p.allowedPairs(), [])
})

test('a byte order mark, comments and flow style are accepted', (t) => {
  const p = compilePolicy(`\ufeff# policy\n${HEAD}allow: [{from: ${A}, to: ${B}}] # one rule\n`, {
    file: 'p.yaml',
  })
  t.true(p.allows(A, B))
})

test('more rules than the datapath policy map holds are refused at the first rule over the limit; the limit is LATCH_POLICY_MAX', (t) => {
  const rules = (n: number) =>
    Array.from({ length: n }, (_, i) => `  - from: ${A}\n    to: spiffe://example.org/ns/b/sa/y${i}\n`).join(
      '',
    )
  const text = (n: number) => `${HEAD}allow:\n${rules(n)}`
  t.is(compilePolicy(text(3), { file: 'p.yaml', maxRules: 3 }).rules.length, 3, 'at the limit: accepted')
  const err = t.throws(() => compilePolicy(text(4), { file: 'p.yaml', maxRules: 3 }))
  t.true(isLatchError(err) && err.code === 'LATCH_ERR_POLICY_INVALID')
  const problems = (err as { details?: { problems: PolicyProblem[] } }).details?.problems ?? []
  t.is(problems.length, 1, 'one problem, not one per rule')
  t.is(`${problems[0]?.line}:${problems[0]?.col}`, '10:5', 'at the 4th rule')
  t.regex(problems[0]?.message ?? '', /the policy has 4 rules; latch enforces at most 3 .*this is rule 4/)
  t.is(MAX_RULES, LatchLimits.LATCH_POLICY_MAX)
})

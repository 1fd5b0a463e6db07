import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { API, check, DB, policyText, rule, WEB } from './helpers.js'

/** Run latchctl from source, as a user would run it (separate process, real exit code and streams). */
async function latchctl(...args: string[]) {
  const r = await execa(process.execPath, ['--import', 'tsx', 'daemon/cli/main.ts', ...args], {
    reject: false,
  })
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr }
}

let dir = ''
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'latch-policy-cli-'))
})
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

const GOOD = policyText(
  [...rule(WEB, API, 'tcp/8080'), ...rule(API, DB, 'tcp/5432')],
  [...check(WEB, API, 'allow', 'tcp/8080'), ...check(WEB, DB, 'deny')],
)

test('policy check prints OK and a summary, exit 0', async (t) => {
  const r = await latchctl('policy', 'check', await file('good.yaml', GOOD))
  t.is(r.code, 0, r.stderr)
  t.regex(
    r.stdout,
    /^OK .*good\.yaml: trust domain example\.org, 2 rules, 3 identities, 2 identity pairs, 2 tests$/,
  )
})

test('policy check --json prints one object', async (t) => {
  const r = await latchctl('policy', 'check', await file('good.yaml', GOOD), '--json')
  t.is(r.code, 0)
  t.like(JSON.parse(r.stdout), {
    ok: true,
    rules: 2,
    identities: 3,
    pairs: 2,
    tests: 2,
    trustDomain: 'example.org',
  })
})

test('policy check of an invalid file prints every problem as FILE:LINE:COL and exits 65', async (t) => {
  const path = await file(
    'bad.yaml',
    'version: 2\ntrustDomain: example.org\nallow:\n  - from: spiffe://example.org/ns/a/sa/x\n    to: spiffe://example.org/ns/a/sa/y\n    ports: [80/tcp]\nextra: true\n',
  )
  const r = await latchctl('policy', 'check', path)
  t.is(r.code, 65)
  t.is(r.stdout, '')
  t.true(r.stderr.startsWith('error LATCH_ERR_POLICY_INVALID: '), r.stderr)
  t.regex(r.stderr, new RegExp(`^${path}:1:10: version must be the number 1`, 'm'))
  t.regex(r.stderr, new RegExp(`^${path}:6:13: "80/tcp" puts the port first; write tcp/80$`, 'm'))
  t.regex(r.stderr, new RegExp(`^${path}:7:1: unknown key "extra"`, 'm'))
  t.regex(r.stderr, /fix: /)
})

test('policy check --json of an invalid file carries the problem list', async (t) => {
  const r = await latchctl('policy', 'check', await file('bad2.yaml', 'version: 1\n'), '--json')
  t.is(r.code, 65)
  const { error } = JSON.parse(r.stderr)
  t.is(error.code, 'LATCH_ERR_POLICY_INVALID')
  t.deepEqual(
    error.problems.map((p: { line: number; col: number }) => `${p.line}:${p.col}`),
    ['1:1', '1:1'],
  )
})

test('policy check of a missing file exits 66, of a directory or non-UTF-8 file 74', async (t) => {
  const missing = await latchctl('policy', 'check', join(dir, 'nope.yaml'))
  t.is(missing.code, 66)
  t.regex(missing.stderr, /LATCH_ERR_POLICY_MISSING/)
  const notFile = await latchctl('policy', 'check', dir)
  t.is(notFile.code, 74)
  t.regex(notFile.stderr, /not a regular file/)
  const raw = join(dir, 'raw.yaml')
  await writeFile(raw, Buffer.from([0x76, 0xff, 0x0a]))
  const bad = await latchctl('policy', 'check', raw)
  t.is(bad.code, 74)
  t.regex(bad.stderr, /not valid UTF-8/)
})

test('policy test runs the tests: PASS lines and exit 0', async (t) => {
  const r = await latchctl('policy', 'test', await file('good.yaml', GOOD))
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.is(lines.length, 3)
  t.regex(lines[0]!, /^PASS .*good\.yaml:11:5: .* on tcp\/8080: allow, as expected/)
  t.regex(lines[1]!, /^PASS .*good\.yaml:15:5: .*: deny, as expected/)
  t.is(lines[2], '2 passed, 0 failed')
})

test('policy test with a failing test names the pair and what the policy gives, exit 1', async (t) => {
  const text = policyText(rule(WEB, API, 'tcp/8080'), [
    ...check(WEB, API, 'allow', 'tcp/9090'),
    ...check(WEB, API, 'allow'),
  ])
  const r = await latchctl('policy', 'test', await file('fail.yaml', text))
  t.is(r.code, 1)
  t.regex(
    r.stdout,
    new RegExp(
      `^FAIL .*fail\\.yaml:8:5: ${WEB} → ${API} on tcp/9090: wanted allow, policy gives deny; the rule at line 4 allows this pair only tcp/8080$`,
      'm',
    ),
  )
  t.regex(r.stdout, /^PASS .*fail\.yaml:12:5:/m)
  t.regex(r.stdout, /^1 passed, 1 failed$/m)
  t.regex(r.stderr, /error LATCH_ERR_POLICY_TEST_FAILED: 1 of 2 policy tests failed/)
})

test('policy test --json reports each result', async (t) => {
  const text = policyText(rule(WEB, API), check(API, WEB, 'allow'))
  const r = await latchctl('policy', 'test', await file('fail2.yaml', text), '--json')
  t.is(r.code, 1)
  const out = JSON.parse(r.stdout)
  t.like(out, { ok: false, passed: 0, failed: 1 })
  t.like(out.results[0], { from: API, to: WEB, port: null, expect: 'allow', got: 'deny', passed: false })
})

test('policy test --datapath runs the tests through the kernel too: PASS lines with the trace, --json the steps', async (t) => {
  const path = await file('good-dp.yaml', GOOD)
  const r = await latchctl('policy', 'test', path, '--datapath')
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n')
  t.regex(
    lines[0]!,
    /^PASS .*: allow, as expected; .*; kernel on tcp\/8080: first packet allowed at source, allowed at destination; reply pass_reply at destination, pass_reply at source; reverse new flow drop_reverse at destination$/,
  )
  t.regex(
    lines[1]!,
    /^PASS .*: deny, as expected; .*; kernel on tcp\/1: first packet drop_no_rule at source; reverse new flow drop_no_rule at destination$/,
  )
  t.is(lines[2], '2 passed, 0 failed')
  const j = await latchctl('policy', 'test', path, '--datapath', '--json')
  t.is(j.code, 0, j.stderr)
  const out = JSON.parse(j.stdout)
  t.like(out.results[1], { probe: 'tcp/1', kernel: 'deny', passed: true })
  t.deepEqual(out.results[1].steps, [
    { packet: 'first', end: 'source', program: 'from_workload', passed: false, reason: 'drop_no_rule' },
    {
      packet: 'reverse',
      end: 'destination',
      program: 'from_workload',
      passed: false,
      reason: 'drop_no_rule',
    },
  ])
})

test('policy test of a file without tests is an error, not a silent pass', async (t) => {
  const r = await latchctl('policy', 'test', await file('notests.yaml', policyText(rule(WEB, API))))
  t.is(r.code, 65)
  t.regex(r.stderr, /LATCH_ERR_POLICY_NO_TESTS/)
})

test('policy test of an invalid file exits with the invalid-policy code', async (t) => {
  const r = await latchctl(
    'policy',
    'test',
    await file('inv.yaml', 'version: 1\ntrustDomain: example.org\nallow: 5\n'),
  )
  t.is(r.code, 65)
  t.regex(r.stderr, /inv\.yaml:3:8: allow must be a list/)
})

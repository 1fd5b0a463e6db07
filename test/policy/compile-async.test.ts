/**
 * compilePolicyAsync: a big policy is compiled off the event loop (parse + validation in a
 * worker_thread, the tables a chunk per turn) with the same result and the same errors as
 * compilePolicy.
 */
import test from 'ava'
import { compilePolicy, compilePolicyAsync } from '../../daemon/policy/index.js'

/** in the worker whatever the size (the default starts at WORKER_MIN_BYTES, ~1500 rules) */
const W = { workerMinBytes: 0 }

const TD = 'example.org'

function bigText(n: number, extra = ''): string {
  const lines = ['version: 1', `trustDomain: ${TD}`, 'allow:']
  for (let i = 0; i < n; i++) {
    lines.push(`  - from: spiffe://${TD}/ns/a/sa/w${i % 100}`)
    lines.push(`    to: spiffe://${TD}/ns/b/sa/w${Math.floor(i / 100)}`)
    lines.push(i % 3 === 0 ? '    ports: [tcp/5432, udp/53]' : '    ports: [tcp/8000-8080]')
  }
  lines.push(
    'tests:',
    `  - from: spiffe://${TD}/ns/a/sa/w1`,
    `    to: spiffe://${TD}/ns/b/sa/w0`,
    '    expect: allow',
  )
  return `${lines.join('\n')}\n${extra}`
}

test.serial('a big policy compiled in the worker is the policy compilePolicy gives', async (t) => {
  const text = bigText(500)
  const sync = compilePolicy(text, { file: 'big.yaml' })
  const async = await compilePolicyAsync(text, { file: 'big.yaml', ...W })
  t.is(async.digest, sync.digest)
  t.deepEqual(async.rules, sync.rules)
  t.deepEqual(async.tests, sync.tests)
  t.deepEqual(async.identities, sync.identities)
  t.deepEqual(async.allowedPairs(), sync.allowedPairs())
  t.true(async.allows(`spiffe://${TD}/ns/a/sa/w3`, `spiffe://${TD}/ns/b/sa/w0`, 'udp', 53))
  t.false(async.allows(`spiffe://${TD}/ns/a/sa/w4`, `spiffe://${TD}/ns/b/sa/w0`, 'udp', 53))
  t.true(Object.isFrozen(async))
})

test.serial(
  'an invalid big policy fails in the worker with the problems compilePolicy reports',
  async (t) => {
    const text = bigText(500, '  - just-text\n')
    const sync = t.throws(() => compilePolicy(text, { file: 'bad.yaml' }))
    const async = await t.throwsAsync(compilePolicyAsync(text, { file: 'bad.yaml', ...W }))
    t.is((async as { code?: string }).code, 'LATCH_ERR_POLICY_INVALID')
    t.is(async!.message, sync!.message)
    t.regex(async!.message, /bad\.yaml:\d+:\d+: /)
  },
)

test.serial('the rule-count limit holds in the worker too', async (t) => {
  const err = await t.throwsAsync(compilePolicyAsync(bigText(500), { file: 'max.yaml', maxRules: 400, ...W }))
  t.is((err as { code?: string }).code, 'LATCH_ERR_POLICY_INVALID')
  t.regex(err!.message, /max\.yaml:\d+:\d+: .*400/)
})

test.serial('the event loop keeps turning while a big policy compiles', async (t) => {
  let turns = 0
  const tick = setInterval(() => {
    turns++
  }, 1)
  try {
    await compilePolicyAsync(bigText(500), { file: 'big.yaml', ...W })
  } finally {
    clearInterval(tick)
  }
  // a compile in one turn (compilePolicy) lets no timer run before it returns
  t.true(turns >= 2, `timer turns during the compile: ${turns}`)
})

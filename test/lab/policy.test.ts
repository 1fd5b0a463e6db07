/** The lab's sample policy: valid, its own tests pass, and it allows/denies what the README says. */
import test from 'ava'
import { labPlan } from '../../daemon/lab/plan.js'
import { renderLabPolicy } from '../../daemon/lab/policy.js'
import { compilePolicy, runPolicyTests } from '../../daemon/policy/index.js'

const id = (w: string) => `spiffe://${labPlan({ nodes: 3, workloads: 2 }).trustDomain}/ns/lab/sa/${w}`

test('the 3-node sample policy compiles and passes its own tests', (t) => {
  const p = compilePolicy(renderLabPolicy(labPlan({ nodes: 3, workloads: 2 })), { file: 'policy.yaml' })
  const results = runPolicyTests(p)
  t.true(results.length >= 4)
  t.true(
    results.every((r) => r.passed),
    JSON.stringify(results.filter((r) => !r.passed).map((r) => r.summary)),
  )
})

const cases: Array<[string, string, boolean]> = [
  ['node1-w1', 'node2-w1', true],
  ['node3-w1', 'node1-w1', true],
  ['node1-w2', 'node2-w2', true],
  ['node1-w2', 'node3-w2', false],
  ['node2-w2', 'node3-w2', false],
  ['node1-w1', 'node1-w2', false],
  ['node1-w1', 'node2-w2', false],
]
for (const [a, b, allowed] of cases) {
  test(`the sample policy ${allowed ? 'allows' : 'denies'} the pair ${a} ↔ ${b}`, (t) => {
    const p = compilePolicy(renderLabPolicy(labPlan({ nodes: 3, workloads: 2 })), { file: 'policy.yaml' })
    t.is(p.pairAllowed(id(a), id(b)), allowed)
  })
}

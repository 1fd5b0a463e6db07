import test from 'ava'
import { isLatchError } from '../../daemon/base/errors.js'
import { parseYamlBounded, YAML_MAX_DEPTH } from '../../daemon/base/yaml-bounded.js'
import { parseYamlText } from '../../daemon/config/load.js'
import { parseRevocations } from '../../daemon/identity/revocation.js'
import { compilePolicy } from '../../daemon/policy/compile.js'

/** `a:` maps nested `levels` deep, one per line. */
const nestedMaps = (levels: number) =>
  Array.from({ length: levels }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')
/** Flow sequences `[[[…]]]`, `levels` deep. */
const nestedFlow = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`

// Each of these made the yaml library overflow the stack or run for minutes in toJS() (the fuzzer
// found the first shape in CI: RangeError in Parser.blockMap).
const hostile: Array<[string, string, RegExp]> = [
  ['maps nested 5000 deep', nestedMaps(5000), /nests deeper than 64 levels/],
  ['flow sequences nested 20000 deep', nestedFlow(20000), /nests deeper than 64 levels/],
  ['500 nested "? " keys (minutes in toJS)', '? '.repeat(500), /map key is not plain text/],
  ['a list as a map key', '? [a, b]\n: c\n', /map key is not plain text/],
  ['an alias as a map key', 'x: &k v\n*k : c\n', /map key is not plain text/],
]

for (const [name, text, message] of hostile) {
  test(`parseYamlBounded refuses ${name} with a problem, without throwing`, (t) => {
    const r = parseYamlBounded(text)
    t.regex(r.limit?.message ?? `(parsed, errors: ${r.doc?.errors.length})`, message)
  })
  test(`a policy of ${name} is LATCH_ERR_POLICY_INVALID naming the limit`, (t) => {
    const err = t.throws(() => compilePolicy(text, { file: 'deep.yaml' }))
    t.true(isLatchError(err, 'LATCH_ERR_POLICY_INVALID'), String(err))
    t.regex(err!.message, message)
  })
  test(`a config of ${name} is LATCH_ERR_CONFIG_INVALID naming the limit`, (t) => {
    const err = t.throws(() => parseYamlText(text, 'deep.yaml', 'config'))
    t.true(isLatchError(err, 'LATCH_ERR_CONFIG_INVALID'), String(err))
    t.regex(err!.message, message)
  })
  test(`a revocation list of ${name} is LATCH_ERR_REVOCATION_INVALID naming the limit`, (t) => {
    const err = t.throws(() => parseRevocations(text, 'deep.yaml', 'lab.latch'))
    t.true(isLatchError(err, 'LATCH_ERR_REVOCATION_INVALID'), String(err))
    t.regex(err!.message, message)
  })
}

test(`nesting up to ${YAML_MAX_DEPTH} levels parses as usual`, (t) => {
  const r = parseYamlBounded(nestedFlow(YAML_MAX_DEPTH))
  t.is(r.limit, undefined)
  t.deepEqual(r.doc?.errors, [])
  t.regex(parseYamlBounded(nestedFlow(YAML_MAX_DEPTH + 1)).limit?.message ?? '', /nests deeper/)
})

test('the position of the refusal is where the too-deep collection starts', (t) => {
  const r = parseYamlBounded(`top: 1\nnest: ${nestedFlow(100)}\n`)
  t.is(r.limit?.offset, 'top: 1\nnest: '.length + YAML_MAX_DEPTH - 1)
})

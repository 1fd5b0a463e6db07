import { readFileSync } from 'node:fs'
import test from 'ava'
import { errorSection, renderErrorTable } from '../../scripts/gen-error-docs.js'

test("the README's error table lists exactly the registry's codes (regenerate with scripts/gen-error-docs.ts)", (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  t.is(errorSection(readme), renderErrorTable())
})

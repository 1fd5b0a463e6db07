import { readFileSync } from 'node:fs'
import test from 'ava'
import { renderErrorDocs } from '../../scripts/gen-error-docs.js'

test('docs/errors.md lists exactly the codes of the registry (regenerate with scripts/gen-error-docs.ts)', (t) => {
  const committed = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  t.is(committed, renderErrorDocs())
})

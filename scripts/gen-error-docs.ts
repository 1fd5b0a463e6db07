/**
 * Writes docs/errors.md from the one error registry (daemon/errors.ts), so the documented codes,
 * exit codes and fixes are always the ones the code uses. test/docs/errors-doc.test.ts fails when
 * the committed file is stale: run `npx tsx scripts/gen-error-docs.ts` after adding a code.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ERRORS } from '../daemon/errors.js'

export function renderErrorDocs(): string {
  const rows = Object.entries(ERRORS)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, spec]) => `| \`${code}\` | ${spec.exit} | ${spec.fix.replaceAll('|', '\\|')} |`)
  return [
    '# latch error codes',
    '',
    'Generated from `daemon/errors.ts` by `scripts/gen-error-docs.ts`; do not edit by hand.',
    'Every error latchctl and latchd report on purpose has one of these codes. latchctl prints',
    '`error <CODE>: <what is wrong>` and `fix: <what to do>` on stderr (one JSON object with `--json`)',
    'and exits with the code below.',
    '',
    '| code | exit | what to do |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL('../docs/errors.md', import.meta.url))
  writeFileSync(target, renderErrorDocs())
  process.stdout.write(`wrote ${target}\n`)
}

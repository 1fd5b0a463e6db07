/**
 * Policy file text → CompiledPolicy, or one LatchError LATCH_ERR_POLICY_INVALID that lists every
 * problem as FILE:LINE:COL: message. Pure: the caller reads the file (see load.ts).
 */
import { LatchError } from '../base/errors.js'
import { CompiledPolicy } from './compiled.js'
import type { PolicyProblem } from './types.js'
import { validatePolicy } from './validate.js'
import { parseSource } from './yaml-source.js'

export interface CompileOptions {
  /** The file name used in messages (FILE:LINE:COL). */
  file: string
  /** The rule-count limit (default MAX_RULES, the datapath's policy map size); tests lower it. */
  maxRules?: number
}

/** One problem the way compilers print them: `FILE:LINE:COL: message`. */
export function formatProblem(file: string, p: PolicyProblem): string {
  return `${file}:${p.line}:${p.col}: ${p.message}`
}

export function compilePolicy(text: string, options: CompileOptions): CompiledPolicy {
  const { file } = options
  const { doc, problems, refused } = parseSource(text)
  // Even with YAML syntax errors the document is mostly usable: report its problems too.
  const valid = refused ? undefined : validatePolicy(doc.contents, problems, options.maxRules)
  if (valid === undefined || problems.count > 0) throw invalidPolicy(file, problems.list())
  return new CompiledPolicy(file, valid.trustDomain, valid.rules, valid.tests)
}

export function invalidPolicy(file: string, problems: readonly PolicyProblem[]): LatchError {
  const n = problems.length
  const lines = problems.map((p) => formatProblem(file, p)).join('\n')
  return new LatchError('LATCH_ERR_POLICY_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'}\n${lines}`, {
    details: { file, problems },
  })
}

/**
 * zod issues → one LatchError that names every offending key (`wireguard.listenPort`, `workloads[0].ips[1]`)
 * and says what is wrong with it. Shared by the config and the peers file.
 */
import type { ZodError, ZodIssue } from 'zod'
import { type ErrorCode, LatchError } from '../base/errors.js'

export interface KeyIssue {
  /** The key path in dotted form, e.g. `wireguard.listenPort`; `(top level)` for the document itself. */
  key: string
  message: string
}

export function keyPath(path: ReadonlyArray<string | number>): string {
  let out = ''
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`
  }
  return out === '' ? '(top level)' : out
}

function describe(issue: ZodIssue): KeyIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({
      key: keyPath([...issue.path, k]),
      message: 'unknown key (check its spelling and where it is nested)',
    }))
  }
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    return [{ key: keyPath(issue.path), message: `is required (${issue.expected})` }]
  }
  if (issue.code === 'invalid_union') {
    // a duration's union: report the clearest member error
    const inner = issue.unionErrors.flatMap((e) => e.issues).find((i) => i.code === 'custom')
    if (inner) return [{ key: keyPath(issue.path), message: inner.message }]
  }
  return [{ key: keyPath(issue.path), message: issue.message }]
}

export function keyIssues(error: ZodError): KeyIssue[] {
  return error.issues.flatMap(describe)
}

/** One error listing every issue: `<what> <file>: key: message; key: message`. */
export function invalidError(code: ErrorCode, what: string, file: string, error: ZodError): LatchError {
  const issues = keyIssues(error)
  const list = issues.map((i) => `${i.key}: ${i.message}`).join('; ')
  return new LatchError(code, `${what} ${file} is invalid: ${list}`, { details: { file, issues } })
}

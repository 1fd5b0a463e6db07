/** Small pieces of the pair-auth status: recent failures (bounded) and a policy error's locations. Pure. */
import type { LatchError } from '../base/errors.js'
import type { PairFailure } from '../pairauth/types.js'
import type { PairAuthStatus, StatusPairFailure } from '../wire/status.js'

/** The last `max` failed pair authentications, newest first. */
export class RecentFailures {
  readonly #max: number
  readonly #items: StatusPairFailure[] = []

  constructor(max: number) {
    this.#max = max
  }

  add(f: PairFailure, at = new Date()): void {
    this.#items.unshift({
      at: at.toISOString(),
      ...(f.local !== undefined && { local: f.local }),
      ...(f.remote !== undefined && { remote: f.remote }),
      ...(f.remoteNode !== undefined && { node: f.remoteNode }),
      role: f.role,
      reason: f.reason,
      by: f.by,
      message: f.message,
      ...(f.certReason !== undefined && { certReason: f.certReason }),
    })
    if (this.#items.length > this.#max) this.#items.length = this.#max
  }

  list(): StatusPairFailure[] {
    return [...this.#items]
  }
}

type PolicyError = NonNullable<PairAuthStatus['policy']['error']>

/** A rejected policy file as status shows it: the code, the message and each problem's line:col. */
export function policyErrorOf(err: LatchError): PolicyError {
  const d = (err.details ?? {}) as { file?: unknown; problems?: unknown }
  const problems = Array.isArray(d.problems)
    ? d.problems
        .filter(
          (p): p is { line: number; col: number; message: string } =>
            typeof p === 'object' &&
            p !== null &&
            typeof p.line === 'number' &&
            typeof p.col === 'number' &&
            typeof p.message === 'string',
        )
        .map((p) => ({ line: p.line, col: p.col, message: p.message }))
    : undefined
  return {
    code: err.code,
    message: err.message,
    ...(typeof d.file === 'string' && { file: d.file }),
    ...(problems && { problems }),
  }
}

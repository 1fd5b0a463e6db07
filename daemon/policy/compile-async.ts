/**
 * compilePolicy without stalling latchd's event loop (issue 10, Build 9): a big policy text is
 * parsed, validated and summarised (sorts, digest) in a worker_thread (compile-worker.ts), which
 * sends the rules back packed in transferred typed arrays (packed.ts); its lookup tables are built
 * on this thread a chunk of rules per turn (CompiledPolicy.fromPacked). A text below WORKER_MIN_BYTES
 * is compiled in place (a worker's start-up, ~50 ms, costs more than it saves). Same result and
 * same LATCH_ERR_POLICY_INVALID as compilePolicy.
 */
import { Worker } from 'node:worker_threads'
import { LatchError } from '../base/errors.js'
import { type CompileOptions, compilePolicy, invalidPolicy } from './compile.js'
import { CompiledPolicy, type PackedSummary } from './compiled.js'
import type { PackedRules } from './packed.js'
import type { PolicyProblem, PolicyTest } from './types.js'

/** Texts from this size up are compiled in a worker (about 1500 rules). */
export const WORKER_MIN_BYTES = 128 * 1024

type WorkerReply =
  | { ok: true; trustDomain: string; packed: PackedRules; summary: PackedSummary; tests: PolicyTest[] }
  | { ok: false; problems: PolicyProblem[] }

// built, this module is dist/…/compile-async.js and the worker is its sibling .js; run from the
// .ts source (tests, scripts under tsx) the worker must register tsx before importing its .ts entry
const SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = new URL(SOURCE ? './compile-worker.ts' : './compile-worker.js', import.meta.url)

function startWorker(workerData: unknown): Worker {
  if (!SOURCE) return new Worker(WORKER_URL, { workerData })
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  const code = `import { register } from ${tsx}; register(); await import(${JSON.stringify(WORKER_URL.href)})`
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData })
}

export interface AsyncCompileOptions extends CompileOptions {
  /** compile in a worker from this text size up (default WORKER_MIN_BYTES; 0: always) */
  workerMinBytes?: number
}

export async function compilePolicyAsync(
  text: string,
  options: AsyncCompileOptions,
): Promise<CompiledPolicy> {
  if (Buffer.byteLength(text) < (options.workerMinBytes ?? WORKER_MIN_BYTES))
    return compilePolicy(text, options)
  const reply = await inWorker(text, options.maxRules)
  if (!reply.ok) throw invalidPolicy(options.file, reply.problems)
  return CompiledPolicy.fromPacked(options.file, reply.trustDomain, reply.packed, reply.summary, reply.tests)
}

function inWorker(text: string, maxRules: number | undefined): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    const w = startWorker({ text, maxRules })
    let reply: WorkerReply | undefined
    w.once('message', (m: WorkerReply) => {
      reply = m
    })
    w.once('error', (err) =>
      reject(
        new LatchError('LATCH_ERR_INTERNAL_BUG', `the policy compile worker failed: ${err.message}`, {
          cause: err,
        }),
      ),
    )
    w.once('exit', (code) => {
      if (reply !== undefined) resolve(reply)
      else
        reject(
          new LatchError(
            'LATCH_ERR_INTERNAL_BUG',
            `the policy compile worker exited (${code}) without an answer`,
          ),
        )
    })
  })
}

/**
 * The worker_thread half of compileInWorker (compile-async.ts): YAML parse and validation of one
 * policy text, off latchd's event loop. Input (workerData): { text, maxRules }. Output (one
 * message): { ok: true, trustDomain, rules, tests } or { ok: false, problems }. Pure otherwise.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { validatePolicy } from './validate.js'
import { parseSource } from './yaml-source.js'

const { text, maxRules } = workerData as { text: string; maxRules: number | undefined }
const { doc, problems, refused } = parseSource(text)
const valid = refused ? undefined : validatePolicy(doc.contents, problems, maxRules)
if (valid === undefined || problems.count > 0) {
  parentPort!.postMessage({ ok: false, problems: problems.list() })
} else {
  parentPort!.postMessage({
    ok: true,
    trustDomain: valid.trustDomain,
    rules: valid.rules,
    tests: valid.tests,
  })
}

/**
 * The worker_thread half of compilePolicyAsync (compile-async.ts): YAML parse, validation and the
 * policy's summary (sorted identities and pairs, digest) of one policy text, off latchd's event
 * loop. Input (workerData): { text, maxRules }. Output (one message): { ok: true, trustDomain,
 * packed, summary, tests } with the rules packed into transferred typed arrays (packed.ts), or
 * { ok: false, problems }. Pure otherwise.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { summarize, TableBuilder } from './compiled.js'
import { packedBuffers, packPairs, packRules } from './packed.js'
import { validatePolicy } from './validate.js'
import { parseSource } from './yaml-source.js'

const { text, maxRules } = workerData as { text: string; maxRules: number | undefined }
const { doc, problems, refused } = parseSource(text)
const valid = refused ? undefined : validatePolicy(doc.contents, problems, maxRules)
if (valid === undefined || problems.count > 0) {
  parentPort!.postMessage({ ok: false, problems: problems.list() })
} else {
  const table = new TableBuilder()
  for (const r of valid.rules) table.add(r)
  const summary = summarize(valid.trustDomain, table)
  const packed = packRules(valid.rules)
  const pairs = packPairs(packed, summary.pairs)
  parentPort!.postMessage(
    {
      ok: true,
      trustDomain: valid.trustDomain,
      packed,
      summary: { identities: summary.identities, pairs, digest: summary.digest },
      tests: valid.tests,
    },
    packedBuffers(packed, pairs),
  )
}

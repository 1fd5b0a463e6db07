import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { isLatchError, type LatchError } from '../../daemon/base/errors.js'
import { type CompiledPolicy, type PolicyDiff, watchPolicy } from '../../daemon/policy/index.js'
import { API, DB, policyText, rule, WEB } from './helpers.js'

const A = policyText(rule(WEB, API, 'tcp/80'))
const B = policyText([...rule(WEB, API, 'tcp/80'), ...rule(API, DB)])
const INVALID = policyText(rule(WEB, 'spiffe://other.org/ns/x/sa/y'))

type Event =
  | { kind: 'change'; next: CompiledPolicy; previous: CompiledPolicy; diff: PolicyDiff }
  | { kind: 'error'; error: LatchError; current: CompiledPolicy }

/** Collects watcher callbacks; `next()` waits for the next one. */
class Events {
  readonly #queue: Event[] = []
  #wake: (() => void) | undefined
  push = (e: Event): void => {
    this.#queue.push(e)
    this.#wake?.()
  }
  onChange = (next: CompiledPolicy, previous: CompiledPolicy, diff: PolicyDiff): void =>
    this.push({ kind: 'change', next, previous, diff })
  onError = (error: LatchError, current: CompiledPolicy): void => this.push({ kind: 'error', error, current })

  async next(timeoutMs = 3000): Promise<Event> {
    const deadline = Date.now() + timeoutMs
    while (this.#queue.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no watcher event within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#wake = undefined
    }
    return this.#queue.shift()!
  }

  /** Nothing arrives within `ms`. */
  async quiet(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms))
    return this.#queue.length === 0
  }
}

const dirs: string[] = []
async function tempPolicy(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'latch-policy-'))
  dirs.push(dir)
  const file = join(dir, 'policy.yaml')
  await writeFile(file, text)
  return file
}

/** Save the way many editors do: write a temp file next to it, rename over the original. */
async function saveByRename(file: string, text: string): Promise<void> {
  await writeFile(`${file}.swp`, text)
  await rename(`${file}.swp`, file)
}

test.after.always(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

test('an invalid edit is reported and the running policy stays; a valid save replaces it', async (t) => {
  const file = await tempPolicy(A)
  const ev = new Events()
  const w = await watchPolicy(file, ev.onChange, ev.onError, { debounceMs: 30 })
  t.teardown(() => w.close())
  const first = w.current
  t.true(first.allows(WEB, API, 'tcp', 80))

  await writeFile(file, INVALID)
  const bad = await ev.next()
  t.is(bad.kind, 'error')
  if (bad.kind === 'error') {
    t.true(isLatchError(bad.error, 'LATCH_ERR_POLICY_INVALID'))
    t.regex(bad.error.message, /policy\.yaml:5:9: .*trust domain "other\.org"/)
    t.is(bad.current, first)
  }
  t.is(w.current, first)
  t.is(w.error?.code, 'LATCH_ERR_POLICY_INVALID')

  await saveByRename(file, B)
  const good = await ev.next()
  t.is(good.kind, 'change')
  if (good.kind === 'change') {
    t.is(good.previous, first)
    t.true(good.next.allows(API, DB))
    t.deepEqual(good.diff, { added: [{ a: API, b: DB }], removed: [] })
  }
  t.true(w.current.allows(API, DB))
  t.is(w.error, undefined)
})

test('returning to the running policy after an error clears the error with an empty diff', async (t) => {
  const file = await tempPolicy(A)
  const ev = new Events()
  const w = await watchPolicy(file, ev.onChange, ev.onError, { debounceMs: 30 })
  t.teardown(() => w.close())
  await writeFile(file, INVALID)
  t.is((await ev.next()).kind, 'error')
  await writeFile(file, A)
  const back = await ev.next()
  t.is(back.kind, 'change')
  if (back.kind === 'change') t.deepEqual(back.diff, { added: [], removed: [] })
  t.is(w.error, undefined)
})

test('rewriting the same rules (even with new comments) calls nothing', async (t) => {
  const file = await tempPolicy(A)
  const ev = new Events()
  const w = await watchPolicy(file, ev.onChange, ev.onError, { debounceMs: 30 })
  t.teardown(() => w.close())
  await writeFile(file, A)
  await saveByRename(file, `# reviewed\n${A}`)
  t.true(await ev.quiet(400))
  t.is(w.error, undefined)
})

test('a deleted file is reported once and the policy stays; recreating it loads it', async (t) => {
  const file = await tempPolicy(A)
  const ev = new Events()
  const w = await watchPolicy(file, ev.onChange, ev.onError, { debounceMs: 30 })
  t.teardown(() => w.close())
  const first = w.current
  await unlink(file)
  const gone = await ev.next()
  t.is(gone.kind === 'error' && gone.error.code, 'LATCH_ERR_POLICY_MISSING')
  await writeFile(join(file, '..', 'unrelated'), 'x') // other activity in the directory
  t.true(await ev.quiet(300), 'the same error is not reported again')
  t.is(w.current, first)
  await writeFile(file, B)
  const back = await ev.next()
  t.is(back.kind, 'change')
  t.true(w.current.allows(API, DB))
})

test('reload() re-reads at once without waiting for events', async (t) => {
  const file = await tempPolicy(A)
  const ev = new Events()
  const w = await watchPolicy(file, ev.onChange, ev.onError, { debounceMs: 60_000, pollMs: 0 })
  t.teardown(() => w.close())
  await writeFile(file, B)
  await w.reload()
  const e = await ev.next(10)
  t.is(e.kind, 'change')
  t.true(w.current.allows(API, DB))
})

test('no callback runs after close()', async (t) => {
  const file = await tempPolicy(A)
  const ev = new Events()
  const w = await watchPolicy(file, ev.onChange, ev.onError, { debounceMs: 30 })
  w.close()
  await writeFile(file, B)
  t.true(await ev.quiet(300))
  await w.reload()
  t.true(w.current.allows(WEB, API))
  t.false(w.current.allows(API, DB))
})

test('starting on a missing or invalid file fails with its error (there is no last good policy)', async (t) => {
  const file = await tempPolicy(INVALID)
  const noop = () => {}
  const invalid = await t.throwsAsync(watchPolicy(file, noop, noop))
  t.true(isLatchError(invalid, 'LATCH_ERR_POLICY_INVALID'))
  const missing = await t.throwsAsync(watchPolicy(`${file}.absent`, noop, noop))
  t.true(isLatchError(missing, 'LATCH_ERR_POLICY_MISSING'))
})

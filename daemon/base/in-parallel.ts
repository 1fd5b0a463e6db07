/**
 * Runs `fn` over `items` with at most `limit` calls in flight, each started in list order; resolves
 * when all are done, rejects with the first failure (calls already started still finish, no new
 * one starts). For many independent kernel requests (routes over rtnetlink, files on tmpfs) whose
 * cost is mostly a round trip: 20k sequential route adds wait 20k times.
 */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++
      try {
        await fn(items[i] as T, i)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker)
  const results = await Promise.allSettled(workers)
  const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (bad) throw bad.reason
}

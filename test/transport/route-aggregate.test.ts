import test from 'ava'
import { aggregateRoutes, planRoutes } from '../../daemon/transport/route-plan.js'

test('aggregate: sibling /32s merge into their /31, and on up while the set is complete', (t) => {
  t.deepEqual(aggregateRoutes(['10.0.0.2/32', '10.0.0.3/32']), ['10.0.0.2/31'])
  t.deepEqual(aggregateRoutes(['10.0.0.3/32', '10.0.0.1/32', '10.0.0.0/32', '10.0.0.2/32']), ['10.0.0.0/30'])
  t.deepEqual(aggregateRoutes(['10.100.2.0/24', '10.100.3.0/24', '10.100.4.0/24']), [
    '10.100.2.0/23',
    '10.100.4.0/24',
  ])
})

test('aggregate: adjacent but not siblings (not aligned) stay apart', (t) => {
  t.deepEqual(aggregateRoutes(['10.0.0.1/32', '10.0.0.2/32']), ['10.0.0.1/32', '10.0.0.2/32'])
  t.deepEqual(aggregateRoutes(['10.0.1.0/24', '10.0.2.0/24']), ['10.0.1.0/24', '10.0.2.0/24'])
  // same size, not adjacent
  t.deepEqual(aggregateRoutes(['10.0.0.0/32', '10.0.0.3/32']), ['10.0.0.0/32', '10.0.0.3/32'])
  // adjacent, different sizes
  t.deepEqual(aggregateRoutes(['10.0.0.0/31', '10.0.0.2/32']), ['10.0.0.0/31', '10.0.0.2/32'])
})

test('aggregate: contained prefixes and duplicates go, host bits are cleared', (t) => {
  t.deepEqual(aggregateRoutes(['10.0.0.0/24', '10.0.0.7/32', '10.0.0.7/32', '10.0.0.128/25']), [
    '10.0.0.0/24',
  ])
  t.deepEqual(aggregateRoutes(['10.0.0.9/24']), ['10.0.0.0/24'])
  t.deepEqual(aggregateRoutes([]), [])
  t.deepEqual(aggregateRoutes(['0.0.0.0/1', '128.0.0.0/1']), ['0.0.0.0/0'])
})

test('aggregate: 10k contiguous peer /32s are a handful of routes', (t) => {
  const peers = Array.from({ length: 10000 }, (_, i) => `10.101.${i >> 8}.${i & 255}/32`)
  // 10000 = 8192 + 1024 + 512 + 256 + 16
  t.deepEqual(aggregateRoutes(peers), [
    '10.101.0.0/19',
    '10.101.32.0/22',
    '10.101.36.0/23',
    '10.101.38.0/24',
    '10.101.39.0/28',
  ])
})

test('aggregate: IPv6 siblings merge, families never mix', (t) => {
  t.deepEqual(aggregateRoutes(['fd00::/128', 'fd00::1/128', 'fd00::2/128']), ['fd00::/127', 'fd00::2/128'])
  t.deepEqual(aggregateRoutes(['fd00:0:0:1::/64', 'fd00::/64', '10.0.0.0/32', '10.0.0.1/32']), [
    '10.0.0.0/31',
    'fd00::/63',
  ])
  t.deepEqual(aggregateRoutes(['fd00::1/127']), ['fd00::/127'])
  t.deepEqual(aggregateRoutes(['::/1', '8000::/1']), ['::/0'])
})

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Addresses (last octet) of prefixes inside 10.0.0.0/24. */
function addresses(prefixes: string[]): Set<number> {
  const out = new Set<number>()
  for (const p of prefixes) {
    const m = /^10\.0\.0\.(\d+)\/(\d+)$/.exec(p)
    if (m === null) throw new Error(`unexpected prefix ${p}`)
    const [base, len] = [Number(m[1]), Number(m[2])]
    const size = 2 ** (32 - len)
    for (let i = base & ~(size - 1); i < (base & ~(size - 1)) + size; i++) out.add(i)
  }
  return out
}

test('aggregate property: union of the output is exactly the union of the input, and minimal', (t) => {
  const next = rng(17)
  for (let round = 0; round < 2000; round++) {
    const count = 1 + Math.floor(next() * 40)
    const input = Array.from({ length: count }, () => {
      const len = 24 + Math.floor(next() ** 0.5 * 9) // mostly long prefixes
      return `10.0.0.${Math.floor(next() * 256)}/${len}`
    })
    const out = aggregateRoutes(input)
    t.deepEqual([...addresses(out)].sort(), [...addresses(input)].sort(), `union for ${input.join(' ')}`)
    // minimal: disjoint and no two are sibling halves (which a smaller set would merge)
    const blocks = out.map((p) => {
      const [a, l] = p.split('/')
      return { base: Number(a?.split('.')[3]), size: 2 ** (32 - Number(l)) }
    })
    t.is(
      addresses(out).size,
      blocks.reduce((s, b) => s + b.size, 0),
      `disjoint for ${input.join(' ')}`,
    )
    for (const a of blocks)
      for (const b of blocks) {
        const siblings = a.size === b.size && a.base % (2 * a.size) === 0 && b.base === a.base + a.size
        if (siblings) t.fail(`siblings left in ${out.join(' ')} for ${input.join(' ')}`)
      }
  }
})

test('routes: the plan adds the aggregate and deletes the parts it replaces', (t) => {
  t.deepEqual(planRoutes(['10.0.0.2/32', '10.0.0.3/32'], ['10.0.0.2/32', '10.0.0.3/32']), {
    add: ['10.0.0.2/31'],
    del: ['10.0.0.2/32', '10.0.0.3/32'],
  })
  // one of two siblings gone: the aggregate splits back
  t.deepEqual(planRoutes(['10.0.0.2/32'], ['10.0.0.2/31']), { add: ['10.0.0.2/32'], del: ['10.0.0.2/31'] })
  t.deepEqual(planRoutes(['10.0.0.2/32', '10.0.0.3/32'], ['10.0.0.2/31']), { add: [], del: [] })
})

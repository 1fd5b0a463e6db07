import ipaddr from 'ipaddr.js'
import { dottedIpv4, plainIpv4Cidr } from './addr.js'

/** Routes via the latch interface: desired prefixes vs the ones latch installed → add/delete. */
export interface RoutePlan {
  add: string[]
  del: string[]
}

/**
 * The desired prefixes, aggregated (see aggregateRoutes), against the routes on the interface.
 * Apply `add` before `del`: an aggregate replacing its parts (or the other way round) is in place
 * before what it replaces goes, so no address of the set is ever without a route.
 */
export function planRoutes(desired: Iterable<string>, actual: Iterable<string>): RoutePlan {
  const want = new Set(aggregateRoutes(desired))
  const have = new Set(actual)
  return {
    add: [...want].filter((r) => !have.has(r)).sort(),
    del: [...have].filter((r) => !want.has(r)).sort(),
  }
}

export function describeRoutePlan(plan: RoutePlan, iface: string): string[] {
  return [
    ...plan.add.map((r) => `route add ${r} dev ${iface}`),
    ...plan.del.map((r) => `route del ${r} dev ${iface}`),
  ]
}

interface Block {
  net: bigint
  len: number
}

/**
 * The fewest prefixes whose union is exactly the union of `prefixes`, per family: prefixes inside
 * another one are dropped and two sibling halves (10.0.0.2/32 + 10.0.0.3/32) become their parent
 * (10.0.0.2/31), repeatedly. Never covers an address outside the input: 10.0.0.1/32 + 10.0.0.2/32
 * stay two routes. 10k peer /32s in one contiguous range are a handful of routes instead of 10k.
 * Output is canonical (host bits cleared, the text canonicalPrefix gives), sorted by family and
 * address; an entry that is not a prefix is passed through unchanged.
 */
export function aggregateRoutes(prefixes: Iterable<string>): string[] {
  const v4: Block[] = []
  const v6: Block[] = []
  const other = new Set<string>()
  for (const p of prefixes) {
    const fast = plainIpv4Cidr(p)
    if (fast) {
      v4.push(block(BigInt(fast.v4), fast.len, 32))
      continue
    }
    try {
      const [addr, len] = ipaddr.parseCIDR(p.trim())
      const bytes = addr.toByteArray()
      let n = 0n
      for (const b of bytes) n = (n << 8n) | BigInt(b)
      ;(addr.kind() === 'ipv6' ? v6 : v4).push(block(n, len, bytes.length * 8))
    } catch {
      other.add(p)
    }
  }
  return [
    ...merge(v4, 32).map((b) => `${dottedIpv4(Number(b.net))}/${b.len}`),
    ...merge(v6, 128).map((b) => `${v6Text(b.net)}/${b.len}`),
    ...[...other].sort(),
  ]
}

function block(n: bigint, len: number, width: number): Block {
  const host = (1n << BigInt(width - len)) - 1n
  return { net: n & ~host, len }
}

function merge(blocks: Block[], width: number): Block[] {
  // by address, the wider first at the same address, so a contained prefix follows its container
  blocks.sort((a, b) => (a.net < b.net ? -1 : a.net > b.net ? 1 : a.len - b.len))
  const size = (len: number): bigint => 1n << BigInt(width - len)
  const out: Block[] = []
  let end = -1n // first address after the last block kept (-1: none yet)
  for (const b of blocks) {
    if (b.net + size(b.len) <= end) continue // inside what is already kept
    out.push(b)
    end = b.net + size(b.len)
    // fold sibling pairs bottom-up: the top two are halves of one parent
    for (;;) {
      const top = out[out.length - 1]
      const prev = out[out.length - 2]
      if (top === undefined || prev === undefined || top.len !== prev.len || top.len === 0) break
      const s = size(top.len)
      if ((prev.net & s) !== 0n || prev.net + s !== top.net) break
      out.length -= 2
      out.push({ net: prev.net, len: top.len - 1 })
    }
  }
  return out
}

function v6Text(n: bigint): string {
  const bytes: number[] = []
  for (let i = 15; i >= 0; i--) bytes.push(Number((n >> BigInt(i * 8)) & 0xffn))
  return ipaddr.fromByteArray(bytes).toString()
}

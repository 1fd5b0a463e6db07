/** Routes via the WireGuard interface: desired prefixes vs the ones latch installed → add/delete. */
export interface RoutePlan {
  add: string[]
  del: string[]
}

export function planRoutes(desired: Iterable<string>, actual: Iterable<string>): RoutePlan {
  const want = new Set(desired)
  const have = new Set(actual)
  return {
    add: [...want].filter((r) => !have.has(r)).sort(),
    del: [...have].filter((r) => !want.has(r)).sort(),
  }
}

export function describeRoutePlan(plan: RoutePlan, iface: string): string[] {
  return [
    ...plan.del.map((r) => `route del ${r} dev ${iface}`),
    ...plan.add.map((r) => `route add ${r} dev ${iface}`),
  ]
}

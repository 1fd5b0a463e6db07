/**
 * The pure half of an IPsec reconcile: the peers latch wants (each with the exporter values of its
 * recent handshakes, newest first) + what the kernel lists → the SA and policy changes, and when to
 * look again. No I/O; `../ipsec.ts` applies a plan through the XFRM port.
 *
 * Make-before-break on every re-handshake (a new exporter value = a new "generation"):
 *  1. at once: the new generation's INBOUND SA is added (new SPI) next to the old one;
 *  2. `switchAfterMs` later (both ends have their new inbound SA by then): the new OUTBOUND SA is
 *     added next to the old one. The kernel sends with the newest valid SA of a template (inserting
 *     it bumps the older SAs' genid, so cached bundles are looked up again and pick the new SPI);
 *     the old outbound SA is NOT deleted now: packets already bound to it (queued, in a cached
 *     bundle) would be dropped as XfrmOutStateInvalid;
 *  3. `retireAfterMs` after the new generation appeared: the old inbound and outbound SAs are
 *     removed (packets the peer sent with the old SPI before its own switch have arrived by then).
 * SAs and policies are latch's when they carry its xfrm interface's if_id; others are never touched.
 */
import type { EspPolicy, EspSa, PolicyDir, PolicyInfo, SaInfo, Selector } from './codec.js'
import { espKeys, pairReqid } from './esp-keys.js'

export interface IpsecGeneration {
  /** The pair's exporter value of one handshake (base64, as the WireGuard PSK). */
  presharedKey: string
  /** When latch first saw it (ms epoch). */
  since: number
}

export interface IpsecPeer {
  name?: string
  publicKey: string
  /** The peer's underlay address (outer destination of its SAs). */
  underlay: string
  /** Canonical prefixes routed to the peer (its tunnel address and workload CIDRs). */
  allowedIps: string[]
  /** Newest first; at least one. */
  generations: IpsecGeneration[]
}

export interface IpsecSelf {
  publicKey: string
  underlay: string
  ifId: number
}

export interface IpsecTiming {
  switchAfterMs: number
  retireAfterMs: number
}

export interface IpsecActual {
  sas: SaInfo[]
  policies: PolicyInfo[]
}

export interface IpsecPlan {
  addSa: EspSa[]
  delSa: SaInfo[]
  putPolicy: EspPolicy[]
  delPolicy: PolicyInfo[]
  /** When a pending switch or retirement is due (ms epoch); undefined when nothing is pending. */
  wakeAt?: number
}

export const POLICY_PRIORITY = 1000

const anyOf = (prefix: string): string => (prefix.includes(':') ? '::/0' : '0.0.0.0/0')

/** The three policies (out, in, fwd) of one prefix routed to a peer. */
export function policiesFor(self: IpsecSelf, peer: IpsecPeer, reqid: number): EspPolicy[] {
  const out: EspPolicy[] = []
  for (const prefix of peer.allowedIps) {
    const base = { reqid, ifId: self.ifId, priority: POLICY_PRIORITY }
    out.push({
      ...base,
      dir: 'out',
      sel: { src: anyOf(prefix), dst: prefix },
      tmplSrc: self.underlay,
      tmplDst: peer.underlay,
    })
    for (const dir of ['in', 'fwd'] as const)
      out.push({
        ...base,
        dir,
        sel: { src: prefix, dst: anyOf(prefix) },
        tmplSrc: peer.underlay,
        tmplDst: self.underlay,
      })
  }
  return out
}

const policyKey = (p: { dir: PolicyDir; sel: Selector }): string => `${p.dir} ${p.sel.src} ${p.sel.dst}`
const saKey = (s: { dst: string; spi: number }): string => `${s.dst} ${s.spi}`

/**
 * `keepReqids`: pairs adopted from a previous daemon whose handshake has not been redone yet: their
 * SAs and policies stay exactly as they are (unless a desired peer claims the same selector).
 */
export function planIpsec(
  self: IpsecSelf,
  peers: readonly IpsecPeer[],
  keepReqids: ReadonlySet<number>,
  actual: IpsecActual,
  now: number,
  timing: IpsecTiming,
): IpsecPlan {
  const mineSas = actual.sas.filter((s) => s.ifId === self.ifId)
  const minePolicies = actual.policies.filter((p) => p.ifId === self.ifId)
  const haveSa = new Map(mineSas.map((s) => [saKey(s), s]))
  const wantSa = new Map<string, EspSa>()
  const keepSa = new Set<string>()
  const wantPolicy = new Map<string, EspPolicy>()
  let wakeAt: number | undefined
  const wake = (t: number) => {
    if (t > now && (wakeAt === undefined || t < wakeAt)) wakeAt = t
  }

  for (const peer of peers) {
    const reqid = pairReqid(self.publicKey, peer.publicKey)
    const gens = [...peer.generations].sort((a, b) => b.since - a.since)
    const newest = gens[0]
    if (newest === undefined) continue
    const sa = (g: IpsecGeneration, dir: 'in' | 'out'): EspSa => {
      const [src, dst] = dir === 'in' ? [peer.underlay, self.underlay] : [self.underlay, peer.underlay]
      const [from, to] = dir === 'in' ? [peer.publicKey, self.publicKey] : [self.publicKey, peer.publicKey]
      const { spi, key } = espKeys(g.presharedKey, from, to)
      return { src, dst, spi, key, reqid, ifId: self.ifId }
    }
    // inbound: the newest, and each older one until retireAfterMs after its successor appeared
    const knownIn = new Set<string>()
    gens.forEach((g, i) => {
      const s = sa(g, 'in')
      knownIn.add(saKey(s))
      const successor = gens[i - 1]
      if (successor === undefined || now < successor.since + timing.retireAfterMs) {
        wantSa.set(saKey(s), s)
        if (successor !== undefined) wake(successor.since + timing.retireAfterMs)
      }
    })
    // inbound SAs of this pair from a previous daemon (unknown SPIs): kept like an older generation
    for (const s of mineSas) {
      if (s.reqid !== reqid || s.dst !== self.underlay || knownIn.has(saKey(s))) continue
      if (now < newest.since + timing.retireAfterMs) {
        keepSa.add(saKey(s))
        wake(newest.since + timing.retireAfterMs)
      }
    }
    // outbound: the newest once switchAfterMs has passed, or at once when there is nothing to replace
    const newOut = sa(newest, 'out')
    const otherOut = mineSas.filter(
      (s) => s.reqid === reqid && s.dst === peer.underlay && s.spi !== newOut.spi,
    )
    if (now >= newest.since + timing.switchAfterMs || otherOut.length === 0) {
      wantSa.set(saKey(newOut), newOut)
      // the old outbound SAs stay (unused for new lookups) until the generation retires
      if (otherOut.length > 0 && now < newest.since + timing.retireAfterMs) {
        for (const s of otherOut) keepSa.add(saKey(s))
        wake(newest.since + timing.retireAfterMs)
      }
    } else {
      for (const s of otherOut) keepSa.add(saKey(s))
      wake(newest.since + timing.switchAfterMs)
    }
    for (const p of policiesFor(self, peer, reqid)) wantPolicy.set(policyKey(p), p)
  }

  // adopted pairs nobody claimed yet: leave their SAs and policies alone
  for (const s of mineSas) if (keepReqids.has(s.reqid)) keepSa.add(saKey(s))
  const keepPolicy = new Set(
    minePolicies.filter((p) => p.reqid !== undefined && keepReqids.has(p.reqid)).map(policyKey),
  )

  const plan: IpsecPlan = { addSa: [], delSa: [], putPolicy: [], delPolicy: [] }
  for (const [k, s] of wantSa) if (!haveSa.has(k)) plan.addSa.push(s)
  for (const [k, s] of haveSa) if (!wantSa.has(k) && !keepSa.has(k)) plan.delSa.push(s)
  const havePolicy = new Map(minePolicies.map((p) => [policyKey(p), p]))
  for (const [k, p] of wantPolicy) {
    const h = havePolicy.get(k)
    if (
      h === undefined ||
      h.priority !== p.priority ||
      h.reqid !== p.reqid ||
      h.tmplSrc !== p.tmplSrc ||
      h.tmplDst !== p.tmplDst
    )
      plan.putPolicy.push(p)
  }
  for (const [k, p] of havePolicy) if (!wantPolicy.has(k) && !keepPolicy.has(k)) plan.delPolicy.push(p)
  plan.addSa.sort(bySa)
  plan.delSa.sort(bySa)
  plan.putPolicy.sort(byPolicy)
  plan.delPolicy.sort(byPolicy)
  if (wakeAt !== undefined) plan.wakeAt = wakeAt
  return plan
}

function bySa(a: { dst: string; spi: number }, b: { dst: string; spi: number }): number {
  return a.dst === b.dst ? a.spi - b.spi : a.dst < b.dst ? -1 : 1
}

function byPolicy(a: { dir: PolicyDir; sel: Selector }, b: { dir: PolicyDir; sel: Selector }): number {
  const x = policyKey(a)
  const y = policyKey(b)
  return x < y ? -1 : x > y ? 1 : 0
}

export function ipsecPlanIsEmpty(p: IpsecPlan): boolean {
  return p.addSa.length + p.delSa.length + p.putPolicy.length + p.delPolicy.length === 0
}

/** Action lines (no key material): SAs by direction, peer and SPI, policies by selector. */
export function describeIpsecPlan(
  p: IpsecPlan,
  self: IpsecSelf,
  names: ReadonlyMap<string, string>,
): string[] {
  const who = (addr: string) => names.get(addr) ?? addr
  const sa = (verb: string, s: { src: string; dst: string; spi: number }) =>
    s.dst === self.underlay
      ? `esp ${verb} in from ${who(s.src)} spi 0x${s.spi.toString(16).padStart(8, '0')}`
      : `esp ${verb} out to ${who(s.dst)} spi 0x${s.spi.toString(16).padStart(8, '0')}`
  return [
    ...p.addSa.map((s) => sa('sa add', s)),
    ...p.putPolicy.map((x) => `esp policy set ${x.dir} ${x.sel.src} -> ${x.sel.dst}`),
    ...p.delSa.map((s) => sa('sa remove', s)),
    ...p.delPolicy.map((x) => `esp policy remove ${x.dir} ${x.sel.src} -> ${x.sel.dst}`),
  ]
}

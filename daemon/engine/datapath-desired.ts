/**
 * The desired content of the datapath's maps, computed from facts named by SPIFFE ID. Pure: no
 * I/O, no allocation of identity ids (the caller allocates every id `identitiesOf` lists first).
 *
 * Facts come from their writers: the local workloads (config, with their resolved ifindexes), the
 * remote identities' proven IPs (pair authentication: the IP SANs of the SVIDs that authenticated;
 * without a policy, the peers' checked inventories), the auth entries (proven pairs, both ways;
 * `latchctl debug auth`) and the running policy (the policy map: what each source may open to each
 * destination, see policy-entries.ts).
 */
import {
  type AuthEntry,
  bytesToIp,
  type Endpoint,
  formatPrefix,
  type IpcacheEntry,
  ipToBytes,
  type PolicyEntry,
  parsePrefix,
} from '../datapath/index.js'
import type { CompiledPolicy } from '../policy/compiled.js'
import { workloadIpcache } from './datapath-report.js'
import { policyEntries } from './policy-entries.js'

export interface LocalEndpointFact {
  id: string
  ips: readonly string[]
  /** host-side interface; 0 = known (ipcache) but not enforced */
  ifindex: number
}

/** A pair of identities that authenticated each other: auth entries both ways until expiresAt. */
export interface ProvenPair {
  /** the local workload */
  local: string
  /** the other workload (remote, or local for a same-node pair) */
  remote: string
  /** the addresses `remote`'s SVID proved (empty for a same-node pair: the local ipcache has them) */
  remoteIps: readonly string[]
  expiresAt: Date
}

export interface AuthFact {
  src: string
  dst: string
  expiresAt: Date
}

export interface DatapathFacts {
  local: readonly LocalEndpointFact[]
  /** the WireGuard interface remote sources must arrive on; undefined = not there yet */
  wireguardIfindex: number | undefined
  /** remote identity → the IPs it proved */
  remote: ReadonlyMap<string, readonly string[]>
  /** authKey(src, dst) → expiry */
  auth: ReadonlyMap<string, AuthFact>
  /**
   * The running policy; undefined = not handed over yet (the policy map is left as it is: after a
   * restart the previous latchd's rules stay in force until the policy is loaded).
   */
  policy?: CompiledPolicy | undefined
}

/** The maps as they should be: keyed like the maps (ifindex, canonical prefix, authKey of ids). */
export interface DesiredMaps {
  endpoints: Map<number, Endpoint>
  ipcache: Map<string, IpcacheEntry>
  auth: Map<string, AuthEntry>
  /** authKey(srcId, dstId) → rule; undefined = the policy map is not managed (no policy yet) */
  policy: Map<string, PolicyEntry> | undefined
}

/** Facts that could not become entries, for the caller to log. */
export interface DesiredProblems {
  /** remote identity → addresses refused because a local workload has them */
  clashes: Map<string, string[]>
  /** remote identities not written because the WireGuard interface is missing */
  deferred: string[]
  /** rules not written because an identity they name has no id yet; written once it gets one */
  unresolvedRules: number
}

export function authKey(src: string | number, dst: string | number): string {
  return `${src} ${dst}`
}

/**
 * A string → canonical string function remembered for up to `limit` inputs (then it starts over):
 * every reconcile canonicalises the same few thousand addresses again, and formatting one costs
 * microseconds (ipaddr.js).
 */
function remembered(f: (s: string) => string, limit = 65_536): (s: string) => string {
  const seen = new Map<string, string>()
  return (s) => {
    let out = seen.get(s)
    if (out === undefined) {
      out = f(s)
      if (seen.size >= limit) seen.clear()
      seen.set(s, out)
    }
    return out
  }
}

/** `10.1.2.3` → `10.1.2.3/32`, `fd00::1/128` as the maps spell it (throws on a bad prefix). */
export const canonicalPrefix = remembered((prefix) => formatPrefix(parsePrefix(prefix)))

/** An address as the endpoints map spells it. */
const canonicalIp = remembered((ip) => bytesToIp(ipToBytes(ip)))

/**
 * Remote IPs and auth entries of a set of proven pairs: a remote identity's IPs are the union of what
 * every pair with it proved; each pair writes (local, remote) and (remote, local), and when several
 * pairs hold the same entry (a replica on another node) the latest expiry counts.
 */
export function factsOfProvenPairs(pairs: readonly ProvenPair[]): {
  remote: Map<string, string[]>
  auth: Map<string, AuthFact>
} {
  const remote = new Map<string, Set<string>>()
  const auth = new Map<string, AuthFact>()
  const put = (src: string, dst: string, expiresAt: Date) => {
    const k = authKey(src, dst)
    const have = auth.get(k)
    if (have === undefined || have.expiresAt < expiresAt) auth.set(k, { src, dst, expiresAt })
  }
  for (const p of pairs) {
    if (p.remoteIps.length > 0) {
      const ips = remote.get(p.remote) ?? new Set<string>()
      for (const ip of p.remoteIps) ips.add(ip)
      remote.set(p.remote, ips)
    }
    put(p.local, p.remote, p.expiresAt)
    put(p.remote, p.local, p.expiresAt)
  }
  return { remote: new Map([...remote].map(([id, ips]) => [id, [...ips].sort()])), auth }
}

/** Every SPIFFE ID the facts name (each needs an identity id before `desiredMaps`). */
export function identitiesOf(f: DatapathFacts): Set<string> {
  const out = new Set<string>(f.local.map((l) => l.id))
  for (const id of f.remote.keys()) out.add(id)
  for (const a of f.auth.values()) out.add(a.src).add(a.dst)
  return out
}

/**
 * `policyIdOf` names the identities policy rules may be written for (default: those of the facts).
 * The reconcile passes every id the allocation knows: a rule for an identity no entry names is
 * inert (no packet carries its id), and after a restart the rules of identities kept only as
 * adopted entries must stay in force until their writers re-assert them.
 */
export function desiredMaps(
  f: DatapathFacts,
  ids: ReadonlyMap<string, number>,
  policyIdOf: (spiffeId: string) => number | undefined = (s) => ids.get(s),
): { desired: DesiredMaps; problems: DesiredProblems } {
  const idOf = (spiffeId: string): number => {
    const id = ids.get(spiffeId)
    if (id === undefined) throw new Error(`no identity id for ${spiffeId} (allocate identitiesOf() first)`)
    return id
  }
  const desired: DesiredMaps = {
    endpoints: new Map(),
    ipcache: new Map(),
    auth: new Map(),
    policy: undefined,
  }
  const problems: DesiredProblems = { clashes: new Map(), deferred: [], unresolvedRules: 0 }
  const localIps = new Set<string>()
  for (const l of f.local) {
    const identity = idOf(l.id)
    for (const ip of l.ips) localIps.add(canonicalPrefix(ip))
    if (l.ifindex > 0)
      desired.endpoints.set(l.ifindex, {
        ifindex: l.ifindex,
        identity,
        addrs: l.ips.map(canonicalIp),
      })
    for (const e of workloadIpcache(l.ips, identity, l.ifindex)) {
      const prefix = canonicalPrefix(e.prefix)
      desired.ipcache.set(prefix, { ...e, prefix })
    }
  }
  for (const [spiffeId, ips] of f.remote) {
    const prefixes = ips.map(canonicalPrefix)
    const clash = ips.filter((_, i) => localIps.has(prefixes[i] as string))
    if (clash.length > 0) {
      // a remote identity claiming a local workload's address is refused as a whole
      problems.clashes.set(spiffeId, clash)
      continue
    }
    if (f.wireguardIfindex === undefined) {
      if (ips.length > 0) problems.deferred.push(spiffeId)
      continue
    }
    const identity = idOf(spiffeId)
    for (const prefix of prefixes) {
      desired.ipcache.set(prefix, { prefix, identity, scope: 'remote', ifindex: f.wireguardIfindex })
    }
  }
  for (const a of f.auth.values()) {
    const srcId = idOf(a.src)
    const dstId = idOf(a.dst)
    desired.auth.set(authKey(srcId, dstId), { srcId, dstId, expiresAt: a.expiresAt })
  }
  if (f.policy !== undefined) {
    const { entries, unresolved } = policyEntries(f.policy, policyIdOf)
    desired.policy = new Map(entries.map((e) => [authKey(e.srcId, e.dstId), e]))
    problems.unresolvedRules = unresolved.length
  }
  return { desired, problems }
}

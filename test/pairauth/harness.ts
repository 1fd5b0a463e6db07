/**
 * Runs one real pair authentication on loopback: a PairAuthServer as node B and authenticatePair from
 * node A (bound to A's loopback tunnel address), and returns what each side concluded.
 */
import {
  authenticatePair,
  createPairAuthServer,
  type PairAuthServer,
  type PairOutcome,
  type PairPolicy,
  WorkloadCredentials,
} from '../../daemon/pairauth/index.js'
import type { PairPki } from './fixture.js'

export interface Side {
  node: string
  credentials: WorkloadCredentials
  policy: PairPolicy
  ttlMs?: number
  now?: () => Date
}

export interface Listening {
  server: PairAuthServer
  port: number
  /** The outcomes the server reported, in order. */
  outcomes: PairOutcome[]
  /** The next server outcome (waits up to 3 s). */
  next(): Promise<PairOutcome>
}

export async function listen(pki: PairPki, b: Side): Promise<Listening> {
  const node = pki.node(b.node)
  const outcomes: PairOutcome[] = []
  const waiters: ((o: PairOutcome) => void)[] = []
  let read = 0
  const server = createPairAuthServer({
    trust: pki.trust(),
    credentials: b.credentials,
    fallback: { certPem: node.certPem, keyPem: node.keyPem },
    senderNode: pki.senderNode,
    constraintsFor: pki.constraintsFor,
    policy: () => b.policy,
    ttlMs: b.ttlMs ?? 3_600_000,
    onOutcome: (o) => {
      outcomes.push(o)
      waiters.shift()?.(o)
    },
    ...(b.now ? { now: b.now } : {}),
  })
  const { port } = await server.listen(node.address, 0)
  return {
    server,
    port,
    outcomes,
    next() {
      const i = read++
      const have = outcomes[i]
      if (have) return Promise.resolve(have)
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the server reported no outcome within 3 s')), 3000)
        waiters.push((o) => {
          clearTimeout(t)
          resolve(o)
        })
      })
    },
  }
}

export async function dial(
  pki: PairPki,
  a: Side,
  to: { node: string; port: number },
  local: string,
  remote: string,
): Promise<PairOutcome> {
  return authenticatePair({
    trust: pki.trust(),
    credentials: a.credentials,
    local,
    remote,
    peer: { node: to.node, address: pki.node(to.node).address, port: to.port },
    localAddress: pki.node(a.node).address,
    constraints: pki.constraintsFor(to.node),
    policy: a.policy,
    ttlMs: a.ttlMs ?? 3_600_000,
    ...(a.now ? { now: a.now } : {}),
  })
}

/** "by:reason" of a failure, or "ok". */
export function verdictOf(o: PairOutcome): string {
  return o.ok ? 'ok' : `${o.by}:${o.reason}`
}

export function credentialsFor(
  pki: PairPki,
  ...svids: { spiffeId: string; chainPem: string; keyPem: string }[]
) {
  const c = new WorkloadCredentials(pki.rootPem)
  for (const s of svids) c.put(s)
  return c
}

/**
 * latchd assembled: identity → engine (WireGuard) → peers file → mesh → handshake listener →
 * control socket (→ metrics). `stop()` undoes it in reverse but leaves WireGuard as it is, so the
 * next daemon re-adopts the interface and its peers without cutting traffic.
 */
import type { Logger } from 'pino'
import { type Clock, systemClock } from '../base/clock.js'
import { LatchError } from '../base/errors.js'
import { formatEndpoint } from '../config/net.js'
import type { Config } from '../config/schema.js'
import { handleDatapathRequest, isDatapathRequest } from '../control/datapath-handler.js'
import { ControlServer } from '../control/server.js'
import { buildStatus } from '../control/status.js'
import { createDiscovery } from '../discovery/create.js'
import type { Discovery } from '../discovery/types.js'
import { InventorySync } from '../engine/datapath-inventory.js'
import { startNodeDatapath } from '../engine/datapath-start.js'
import type { IdentityDatapath } from '../engine/identity-datapath.js'
import { createEngine, type Engine } from '../engine/index.js'
import { dialPeer } from '../handshake/client.js'
import { certFingerprint } from '../handshake/fingerprint.js'
import { HandshakeServer } from '../handshake/server.js'
import { DEFAULT_TIMING, type HandshakeTiming } from '../handshake/timing.js'
import type { LocalNode } from '../handshake/types.js'
import { DaemonMetrics, type MetricsListener } from '../observe/metrics.js'
import type { ControlResponse } from '../wire/control.js'
import type { BackoffPolicy } from './backoff.js'
import { daemonGuards } from './listener-limits.js'
import { loadLocalIdentity } from './local-identity.js'
import { Mesh } from './mesh.js'
import { PairService } from './pair-service.js'
import { loadRevocations, TrustLifecycle } from './trust-lifecycle.js'
import { applyTrust } from './trust-wiring.js'

export interface DaemonOptions {
  config: Config
  logger: Logger
  /** Default: createEngine with the config's wireguard block. */
  engine?: Engine
  clock?: Clock
  timing?: HandshakeTiming
  backoff?: BackoffPolicy
  /** The eBPF identity datapath pair authentication writes auth/ipcache entries into. */
  datapath?: IdentityDatapath
}

export interface Daemon {
  readonly config: Config
  readonly mesh: Mesh
  readonly engine: Engine
  /** The handshake listener's bound port (differs from config when it is 0). */
  readonly listenPort: number
  /** Identity-pair authentication; undefined without a policy file. */
  readonly pairs: PairService | undefined
  status(): Promise<ControlResponse>
  stop(): Promise<void>
}

async function listenOr<T>(what: string, where: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (err) {
    if (err instanceof LatchError) throw err
    throw new LatchError(
      'LATCH_ERR_DAEMON_LISTEN_FAILED',
      `cannot listen for ${what} on ${where}: ${(err as Error).message}`,
      {
        cause: err,
        details: { what, where },
      },
    )
  }
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const { config: c, logger } = o
  const startedAt = new Date()
  const identity = await loadLocalIdentity(c)
  const revocations = await loadRevocations(c)
  for (const problem of identity.problems) {
    logger.error({ event: 'identity_problem' }, `peers will refuse this node: ${problem}`)
  }

  const engine =
    o.engine ??
    createEngine({
      wireguard: c.wireguard,
      logger: logger.child({ component: 'engine' }),
      adoptGraceMs: c.peerGracePeriod,
    })
  const wg = await engine.start()
  // the eBPF datapath (load or adopt the pins, attach to local workloads); undefined when disabled
  const datapath = startNodeDatapath(c, logger)
  const identityDatapath = o.datapath ?? datapath
  let inventory: InventorySync | undefined
  const local: LocalNode = {
    node: c.node,
    trustDomain: c.trustDomain,
    rootPem: identity.rootPem,
    certPem: identity.certPem,
    keyPem: identity.keyPem,
    intermediatePem: identity.intermediatePem,
    wgPublicKey: wg.publicKey,
    endpoint: formatEndpoint(c.listen.address, c.wireguard.listenPort),
    tunnelAddress: c.wireguard.address,
    workloadCidrs: [...c.workloadCidrs],
    workloads: c.workloads.map((w) => ({ id: w.id, ips: [...w.ips] })),
    revocations,
  }
  const timing = o.timing ?? { ...DEFAULT_TIMING, handshakeTimeoutMs: c.limits.handshakeTimeout }

  let mesh: Mesh | undefined
  let pairs: PairService | undefined
  let server: HandshakeServer | undefined
  let metricsServer: MetricsListener | undefined
  const metrics = new DaemonMetrics({
    peerStates: () => mesh?.stateCounts() ?? {},
    wireguardBytes: async () => {
      const names = new Map((mesh?.snapshot() ?? []).map((p) => [p.wgPublicKey, p.name]))
      const st = await engine.status()
      return st.peers.map((p) => ({
        peer: names.get(p.publicKey) ?? p.name ?? p.publicKey,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
      }))
    },
    ...(datapath && { datapath: () => datapath.report() }),
    listeners: () => [
      ...(server ? [{ listener: 'node', ...server.counts() }] : []),
      ...(pairs?.listenerCounts() ?? []),
      ...(metricsServer ? [{ listener: 'metrics', ...metricsServer.counts() }] : []),
    ],
  })
  const guards = daemonGuards(c, logger, metrics, {
    nodeMs: timing.handshakeTimeoutMs,
    pairAuthMs: c.limits.handshakeTimeout,
  })
  mesh = new Mesh({
    self: c.node,
    trustDomain: c.trustDomain,
    dial: (peer) => dialPeer({ local, peer, timing }),
    engine,
    clock: o.clock ?? systemClock,
    rekeyIntervalMs: c.rekeyInterval,
    gracePeriodMs: c.peerGracePeriod,
    logger,
    metrics,
    ...(o.backoff && { backoff: o.backoff }),
    onSessionsChanged: () => {
      pairs?.refresh()
      inventory?.trigger()
    },
  })
  const m = mesh
  // one writer of remote ipcache entries: with a policy, pair authentication (from the IP SANs of the
  // SVIDs that authenticated); without one, the peers' inventories (checked against name constraints)
  if (datapath && c.policyFile === undefined)
    inventory = new InventorySync(datapath, () => m.snapshot(), logger)

  let hs: HandshakeServer
  try {
    hs = new HandshakeServer({
      local,
      isKnownPeer: (n) => m.has(n),
      registeredFingerprint: (n) => m.registeredFingerprint(n),
      onOutcome: (outcome) => m.inbound(outcome),
      onTlsError: (err, remote) =>
        logger.warn({ event: 'tls_error', remote }, `TLS handshake from ${remote} failed: ${err.message}`),
      timing,
      guard: guards.node,
    })
    server = hs
  } catch (err) {
    throw new LatchError(
      'LATCH_ERR_DAEMON_IDENTITY',
      `cannot use the node certificate and key: ${(err as Error).message}`,
      {
        cause: err,
        details: { certFile: c.pki.certFile, keyFile: c.pki.keyFile },
      },
    )
  }
  // PKI hot reload, revocation and expiry (daemon/node/trust-lifecycle.ts)
  const trust = new TrustLifecycle({
    config: c,
    logger,
    initial: { ...identity, revocations },
    registry: metrics.registry,
    apply: (next, _prev, changed) =>
      applyTrust({ local, server, mesh: m, pairs: () => pairs, logger }, next, changed),
  })
  const listenAt = formatEndpoint(c.listen.address, c.listen.port)
  const bound = await listenOr('handshakes', listenAt, () => hs.listen(c.listen.address, c.listen.port))

  // discovery: the peers file, or etcd (this node registers its bound handshake port)
  let started = false // onChange before start-up ends: the final setPeers applies the list then
  const peers: Discovery = createDiscovery({
    config: c,
    logger,
    self: { address: c.listen.address, port: bound.port, fingerprint: certFingerprint(identity.certPem) },
    onChange: (list) => {
      if (!started) return // the list in force when start-up ends is applied then
      logger.info(
        { event: 'peers_reloaded', backend: peers.backend, peers: list.length },
        `${peers.backend === 'file' ? 'peers file reloaded' : 'etcd registrations changed'} (${list.length} peers)`,
      )
      m.setPeers(list)
    },
    onError: (err) =>
      logger.error({ event: 'peers_rejected', code: err.code }, `kept the previous peers: ${err.message}`),
  })
  await peers.start().catch(async (err) => {
    await peers.stop()
    await hs.close(true)
    throw err
  })

  const status = async (): Promise<ControlResponse> => {
    const wgStatus = await engine.status().catch((err: Error) => err)
    return {
      ok: true,
      status: {
        ...buildStatus({
          config: c,
          spiffeId: identity.spiffeId,
          wgPublicKey: wg.publicKey,
          startedAt,
          now: new Date(),
          peers: m.snapshot(),
          wireguard: wgStatus,
          ...(pairs && { pairAuth: await pairs.status() }),
          discovery: peers.status(),
        }),
        trust: trust.status(),
        ...(datapath && { datapath: datapath.report() }),
      },
    }
  }
  const control = new ControlServer(
    c.controlSocket,
    async (req) =>
      req.cmd === 'ping'
        ? { ok: true, pong: true }
        : isDatapathRequest(req)
          ? handleDatapathRequest(datapath, req)
          : status(),
    datapath && ((send) => datapath.onEvent(send)),
    guards.control,
  )
  try {
    await control.listen()
    if (c.metrics) {
      const { address, port } = c.metrics
      metricsServer = await listenOr('metrics', formatEndpoint(address, port), () =>
        metrics.listen(address, port, guards.metrics),
      )
    }
  } catch (err) {
    await peers.stop()
    await hs.close(true)
    await control.close().catch(() => undefined)
    throw err
  }

  if (c.policyFile !== undefined && identityDatapath === undefined) {
    // no enforcement point: authenticating pairs would write nowhere. Say so loudly; run the mesh.
    const e = new LatchError(
      'LATCH_ERR_PAIRAUTH_NO_DATAPATH',
      `pair authentication (policyFile ${c.policyFile}) needs the eBPF identity datapath, which is not running; pair authentication is off`,
    )
    logger.error({ event: 'pairauth_disabled', code: e.code }, e.message)
  } else if (c.policyFile !== undefined && identityDatapath !== undefined) {
    pairs = new PairService({
      config: c,
      logger,
      rootPem: identity.rootPem,
      node: { certPem: identity.certPem, keyPem: identity.keyPem },
      revocations,
      peers: () => m.snapshot(),
      datapath: identityDatapath,
      guard: guards.pairAuth,
    })
    await pairs.start().catch(async (err) => {
      await peers.stop()
      await hs.close(true)
      await control.close().catch(() => undefined)
      await metricsServer?.close()
      await pairs?.stop()
      throw err
    })
  }
  started = true
  m.setPeers(peers.peers)
  await trust.start()
  logger.info(
    {
      event: 'started',
      listen: formatEndpoint(c.listen.address, bound.port),
      wgPublicKey: wg.publicKey,
      adopted: wg.adopted,
      peers: peers.peers.length <= 50 ? peers.peers.map((p) => p.name) : peers.peers.length,
      controlSocket: c.controlSocket,
    },
    `latchd ${c.node} listening on ${formatEndpoint(c.listen.address, bound.port)}${wg.adopted ? ' (adopted the existing WireGuard interface)' : ''}`,
  )

  let stopping: Promise<void> | undefined
  return {
    config: c,
    mesh: m,
    engine,
    listenPort: bound.port,
    pairs,
    status,
    stop() {
      stopping ??= (async () => {
        trust.stop()
        await peers.stop()
        await pairs?.stop()
        m.stop(false)
        await hs.close(true)
        await control.close()
        await metricsServer?.close()
        await engine.flush().catch(() => undefined)
        await engine.stop()
        inventory?.stop()
        datapath?.close()
        logger.info({ event: 'stopped' }, 'latchd stopped; WireGuard left in place for the next start')
      })()
      return stopping
    },
  }
}

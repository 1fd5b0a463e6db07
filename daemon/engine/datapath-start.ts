/**
 * latchd's datapath from its config: start (load or adopt) when datapath.enabled, otherwise make
 * sure no program of ours is left enforcing on the configured workload interfaces.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Logger } from 'pino'
import { asLatchError, isLatchError } from '../base/errors.js'
import type { Config } from '../config/schema.js'
import { type CtTimeouts, Datapath } from '../datapath/index.js'
import { type DatapathWorkload, NodeDatapath } from './datapath.js'

/** `registered`: the workloads registered at runtime and re-adopted (node/workload-registry.ts). */
export function startNodeDatapath(
  c: Config,
  logger: Logger,
  registered: readonly DatapathWorkload[] = [],
): NodeDatapath | undefined {
  const log = logger.child({ component: 'datapath' })
  const workloads = [...c.workloads, ...registered]
  if (!c.datapath.enabled) {
    detachLeftovers(c, workloads, log)
    return undefined
  }
  mkdirSync(dirname(c.datapath.identitiesFile), { recursive: true, mode: 0o700 })
  return NodeDatapath.start({
    pinDir: c.datapath.pinDir,
    identitiesFile: c.datapath.identitiesFile,
    // the tunnel interface: decrypted packets carry its ifindex (WireGuard's, or the XFRM interface's)
    wireguardInterface: c.transport === 'ipsec' ? c.ipsec.interface : c.wireguard.interface,
    workloads,
    logger: log,
    remoteAdoptGraceMs: c.peerGracePeriod,
    ctTimeouts: ctTimeoutsOf(c.datapath.conntrack),
  })
}

/** datapath.conntrack (ms) -> the config map's ct_* fields (ns). */
export function ctTimeoutsOf(ct: Config['datapath']['conntrack']): CtTimeouts {
  const ns = (ms: number) => BigInt(ms) * 1_000_000n
  return {
    ctTcpSynNs: ns(ct.tcpSyn),
    ctTcpEstablishedNs: ns(ct.tcpEstablished),
    ctTcpClosingNs: ns(ct.tcpClosing),
    ctTcpClosedNs: ns(ct.tcpClosed),
    ctUdpNs: ns(ct.udp),
    ctIcmpNs: ns(ct.icmp),
    ctOtherNs: ns(ct.other),
    fragNs: ns(ct.fragments),
  }
}

/** datapath.enabled: false after an enforcing run: take our filters off the workload interfaces. */
function detachLeftovers(c: Config, workloads: readonly DatapathWorkload[], log: Logger): void {
  let dp: Datapath
  try {
    dp = Datapath.openPinned({ pinDir: c.datapath.pinDir })
  } catch (err) {
    if (!isLatchError(err, 'LATCH_ERR_BPF_NOT_PINNED')) {
      log.debug(
        { event: 'datapath_disabled' },
        `datapath disabled; nothing pinned to check: ${asLatchError(err).message}`,
      )
    }
    return
  }
  try {
    for (const w of workloads) {
      if (!w.interface) continue
      try {
        const r = dp.detach(w.interface)
        if (r.ingress || r.egress) {
          log.warn(
            { event: 'datapath_detached', interface: w.interface },
            `datapath disabled: detached from ${w.interface}`,
          )
        }
      } catch (err) {
        log.warn({ event: 'datapath_detach_failed', interface: w.interface }, asLatchError(err).message)
      }
    }
  } finally {
    dp.close()
  }
}

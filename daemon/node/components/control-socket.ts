/** The local control socket: status, ping and the datapath's commands (daemon/wire/control.ts). */
import type { Component } from '../../base/lifecycle.js'
import { ControlServer } from '../../control/server.js'
import { isWorkloadRequest } from '../../wire/workload.js'
import { handleDatapathRequest, isDatapathRequest } from '../datapath-requests.js'
import { type DaemonParts, need } from '../parts.js'
import { daemonStatus } from '../status.js'
import { handleWorkloadRequest } from '../workload-handler.js'

export const controlSocketComponent: Component<DaemonParts> = {
  name: 'control socket',
  async start(p) {
    const datapath = p.datapath
    const control = new ControlServer(
      p.config.controlSocket,
      async (req) =>
        req.cmd === 'ping'
          ? { ok: true, pong: true }
          : isDatapathRequest(req)
            ? handleDatapathRequest(datapath, req)
            : isWorkloadRequest(req)
              ? handleWorkloadRequest(need(p.workloads, 'the workloads'), req)
              : daemonStatus(p),
      datapath && ((send) => datapath.onEvent(send)),
      need(p.guards, 'the listener limits').control,
    )
    try {
      await control.listen()
    } catch (err) {
      await control.close().catch(() => undefined)
      throw err
    }
    p.control = control
  },
  async stop(p) {
    // stopping before workload registration was served (a later component failed to start): the
    // workload requests queued until then get a clear error, written before the sockets close
    await p.workloads?.abandon('latchd stopped before workload registration started (see its log)')
    await new Promise((resolve) => setImmediate(resolve))
    await p.control?.close()
  },
}

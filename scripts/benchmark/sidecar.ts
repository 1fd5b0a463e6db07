/**
 * The sidecar mTLS setup (the Envoy/Linkerd architecture, with haproxy): a client-side proxy in the
 * client workload's netns listens on 127.0.0.1 and originates TLS 1.3 with the client's SVID,
 * verifying the server's chain against the lab root; a server-side proxy in the server workload's
 * netns terminates TLS 1.3, requires and verifies the client's SVID, and forwards to the local
 * server. haproxy verifies the chain (and OpenSSL the intermediates' name constraints); it cannot
 * match the peer's SPIFFE URI SAN, which a real mesh proxy would also check.
 * Rendering is pure; `startSidecars` writes the files (0600) and starts both proxies.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LabPlan, LabWorkload } from '../../daemon/lab/plan.js'
import { SCRATCH_DIR } from './paths.js'
import { startIn } from './procs.js'

export interface ProxiedPort {
  name: string
  /** Port the client connects to on 127.0.0.1 in its own netns. */
  localPort: number
  /** Port the server-side proxy terminates TLS on, at the server workload's IP. */
  tlsPort: number
  /** Port of the real server on 127.0.0.1 in the server's netns. */
  serverPort: number
}

export interface SidecarFiles {
  pem: string
  caFile: string
}

const GLOBAL = [
  'global',
  '  maxconn 4096',
  '  ssl-default-bind-options ssl-min-ver TLSv1.3',
  '  ssl-default-server-options ssl-min-ver TLSv1.3',
  'defaults',
  '  mode tcp',
  '  timeout connect 5s',
  '  timeout client 60s',
  '  timeout server 60s',
]

export function clientProxyConfig(ports: ProxiedPort[], serverIp: string, files: SidecarFiles): string {
  const lines = [...GLOBAL]
  for (const p of ports) {
    lines.push(
      `frontend ${p.name}_out`,
      `  bind 127.0.0.1:${p.localPort}`,
      `  default_backend ${p.name}_tls`,
      `backend ${p.name}_tls`,
      `  server upstream ${serverIp}:${p.tlsPort} ssl crt ${files.pem} ca-file ${files.caFile} verify required`,
    )
  }
  return `${lines.join('\n')}\n`
}

export function serverProxyConfig(ports: ProxiedPort[], serverIp: string, files: SidecarFiles): string {
  const lines = [...GLOBAL]
  for (const p of ports) {
    lines.push(
      `frontend ${p.name}_in`,
      `  bind ${serverIp}:${p.tlsPort} ssl crt ${files.pem} ca-file ${files.caFile} verify required`,
      `  default_backend ${p.name}_local`,
      `backend ${p.name}_local`,
      `  server local 127.0.0.1:${p.serverPort}`,
    )
  }
  return `${lines.join('\n')}\n`
}

/** haproxy's `crt` file: the SVID, its intermediate (chain.pem holds both) and the key. */
async function writePem(w: LabWorkload): Promise<string> {
  const [chain, key] = await Promise.all([
    readFile(join(w.svidDir, 'chain.pem'), 'utf8'),
    readFile(join(w.svidDir, 'svid.key'), 'utf8'),
  ])
  const file = join(SCRATCH_DIR, `${w.name}.pem`)
  await writeFile(file, `${chain.trimEnd()}\n${key.trimEnd()}\n`, { mode: 0o600 })
  return file
}

/** Starts the server-side then the client-side proxy; returns their PIDs (stopped by procs.stopAll). */
export async function startSidecars(
  plan: LabPlan,
  client: LabWorkload,
  server: LabWorkload,
  ports: ProxiedPort[],
): Promise<number[]> {
  await mkdir(SCRATCH_DIR, { recursive: true, mode: 0o700 })
  const caFile = join(plan.pkiDir, 'ca', 'root.crt')
  const pids: number[] = []
  for (const [w, render] of [
    [server, serverProxyConfig],
    [client, clientProxyConfig],
  ] as const) {
    const cfg = join(SCRATCH_DIR, `haproxy-${w.name}.cfg`)
    await writeFile(cfg, render(ports, server.ip, { pem: await writePem(w), caFile }), { mode: 0o600 })
    // -db: foreground, no daemon; -W off: no master process, so the PID is the proxy itself
    const { pid } = await startIn(plan, w.name, ['haproxy', '-db', '-f', cfg])
    pids.push(pid)
  }
  return pids
}

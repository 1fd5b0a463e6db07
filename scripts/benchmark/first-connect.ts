/**
 * First connection of a newly allowed pair on the real mesh: node1-w2 → node2-w1 is denied by
 * the lab's sample policy; the policy file is edited to allow it and, at that instant, the client
 * (already running in node1-w2) starts (a) one connect() left to the kernel's SYN retransmits and
 * (b) a fresh connect every 10 ms. (a) is what an application that connects right at the edit
 * sees; (b) is when the pair first becomes usable. A drop-first design costs (a) ≥ 1 s, the initial
 * SYN retransmission timeout. The edit is undone (and the denial seen again) after each repetition.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { parse, stringify } from 'yaml'
import { LatchError } from '../../daemon/base/errors.js'
import type { LabPlan, LabWorkload } from '../../daemon/lab/plan.js'
import { LAB_POLICY_FILE } from '../../daemon/lab/policy.js'
import { epochMs, type FirstConnectResult, type ProbeResult } from './load/protocol.js'
import { LOAD_CLIENT } from './paths.js'
import { nodeTool, runIn, startIn, stop } from './procs.js'

export interface FirstConnectRep {
  /** ms from the policy write until the connect issued at that moment completed (SYN retransmits). */
  singleConnectMs: number | null
  /** ms from the policy write until the first of the 10 ms retries completed. */
  firstUsableMs: number | null
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.bench-${process.pid}`
  await writeFile(tmp, text, { mode: 0o644 })
  await rename(tmp, file)
}

async function reachable(
  plan: LabPlan,
  client: LabWorkload,
  server: LabWorkload,
  port: number,
): Promise<boolean> {
  const out = await runIn(
    plan,
    client.name,
    nodeTool(LOAD_CLIENT, ['probe', '--host', server.ip, '--port', String(port), '--deadline-ms', '600']),
  )
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as ProbeResult).ok
}

async function waitDenied(
  plan: LabPlan,
  client: LabWorkload,
  server: LabWorkload,
  port: number,
): Promise<void> {
  for (let i = 0; i < 20; i++) if (!(await reachable(plan, client, server, port))) return
  throw new LatchError(
    'LATCH_ERR_BENCH_NO_PATH',
    `${client.name} still reaches ${server.name} after the policy allowing it was removed`,
  )
}

export async function firstConnect(
  plan: LabPlan,
  client: LabWorkload,
  server: LabWorkload,
  port: number,
  reps: number,
  log: (line: string) => void,
): Promise<FirstConnectRep[]> {
  const original = await readFile(LAB_POLICY_FILE, 'utf8')
  const policy = parse(original) as { allow?: Array<{ from: string; to: string }> }
  const allowed = stringify({
    ...policy,
    allow: [...(policy.allow ?? []), { from: client.spiffeId, to: server.spiffeId }],
  })
  if (await reachable(plan, client, server, port)) {
    throw new LatchError(
      'LATCH_ERR_BENCH_NO_PATH',
      `${client.name} → ${server.name} is already reachable before the policy allows it; the lab policy is not the sample one`,
    )
  }
  const out: FirstConnectRep[] = []
  try {
    for (let i = 0; i < reps; i++) {
      const { pid, child } = await startIn(
        plan,
        client.name,
        nodeTool(LOAD_CLIENT, [
          'first-connect',
          '--host',
          server.ip,
          '--port',
          String(port),
          '--deadline-ms',
          '10000',
        ]),
        'ready',
      )
      const writtenAt = epochMs()
      await writeAtomic(LAB_POLICY_FILE, allowed)
      child.stdin?.write('go\n')
      const r = await child
      await stop(pid)
      const res = JSON.parse(String(r.stdout).trim().split('\n').pop() ?? '{}') as FirstConnectResult
      const rep = {
        singleConnectMs: res.singleConnectAt === null ? null : res.singleConnectAt - writtenAt,
        firstUsableMs: res.retryConnectAt === null ? null : res.retryConnectAt - writtenAt,
      }
      out.push(rep)
      log(
        `  first connection #${i + 1}: usable after ${rep.firstUsableMs?.toFixed(0) ?? 'never'} ms, connect issued at the edit done after ${rep.singleConnectMs?.toFixed(0) ?? 'never'} ms`,
      )
      await writeAtomic(LAB_POLICY_FILE, original)
      await waitDenied(plan, client, server, port)
    }
  } finally {
    await writeAtomic(LAB_POLICY_FILE, original)
  }
  return out
}

/**
 * latchctl against a lab node's latchd, run inside the node's namespaces (the raw result, its --json
 * answer), and the readings tests poll (status, drop counters, auth entries) straight from the node's
 * control socket with latchctl's own client, in-process: a latchctl process per poll costs ~0.3 s
 * here and ~8 s in the real-kernel lane's guest.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { fetchStatus } from '../../../daemon/control/client.js'
import { authRequest } from '../../../daemon/control/datapath-client.js'
import { LAB_POLICY_FILE } from '../../../daemon/lab/policy.js'
import type { AuthEntryReport, StatusReport } from '../../../daemon/wire/status.js'
import { type LabHandle, labExec } from './lab.js'
import { until } from './poll.js'

const CLI = join(process.cwd(), 'dist', 'daemon', 'cli', 'main.js')

/** latchctl for the lab of `lab` (the handle of useLab): ctl, ctlJson, status, drops, authList by node name. */
export function latchctl(lab: () => LabHandle) {
  /** latchctl ARGS against NODE's control socket; never throws on exit codes. */
  const ctl = (node: string, args: string[]) =>
    labExec(node, [process.execPath, CLI, ...args, '--socket', lab().node(node).controlSocket])
  /** latchctl ARGS --json; throws with latchctl's stderr when it fails. */
  async function ctlJson<T>(node: string, args: string[]): Promise<T> {
    const r = await ctl(node, [...args, '--json'])
    if (r.exitCode !== 0) throw new Error(`${node} ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }
  /** NODE's `latchctl status --json` answer. */
  const status = (node: string): Promise<StatusReport> => fetchStatus(lab().node(node).controlSocket)
  /** The datapath's drop counters (packets by reason) of a node. */
  async function drops(node: string): Promise<Record<string, number>> {
    const s = await status(node)
    return Object.fromEntries(
      (s.datapath?.stats ?? []).filter((x) => x.verdict === 'drop').map((x) => [x.reason, x.packets]),
    )
  }
  /** The pair-auth entries NODE's datapath holds (`latchctl debug auth list --json`). */
  const authList = (node: string): Promise<AuthEntryReport[]> =>
    authRequest(lab().node(node).controlSocket, { cmd: 'auth_list' })
  const digest = async (n: string) => (await status(n)).pairAuth?.policy.digest
  /**
   * Adds `from → to` rules (any protocol) to the lab's policy file (renamed into place) and waits
   * until node1 and node2 both run the new policy.
   */
  async function allow(pairs: Array<{ from: string; to: string }>): Promise<void> {
    const policy = parse(await readFile(LAB_POLICY_FILE, 'utf8')) as {
      allow: Array<{ from: string; to: string }>
    }
    policy.allow.push(...pairs)
    const old = await digest('node1')
    await writeFile(`${LAB_POLICY_FILE}.tmp-e2e`, stringify(policy))
    await rename(`${LAB_POLICY_FILE}.tmp-e2e`, LAB_POLICY_FILE)
    await until(
      'node1 and node2 to run the new policy',
      async () => {
        const [a, b] = [await digest('node1'), await digest('node2')]
        return a !== old && a === b
      },
      15_000,
      100,
    )
  }
  return { ctl, ctlJson, status, drops, authList, allow }
}

/** Which drop reasons moved between two readings, by how much (empty: none). */
export function moved(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after)
      .map(([r, n]): [string, number] => [r, n - (before[r] ?? 0)])
      .filter(([, d]) => d !== 0),
  )
}

export type AuthEntry = { src: string; dst: string }
/** The entries that name ID on either side. */
export const entriesOf = (list: AuthEntry[], id: string) => list.filter((e) => e.src === id || e.dst === id)

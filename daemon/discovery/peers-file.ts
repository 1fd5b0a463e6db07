/**
 * The static peers file: a YAML (or JSON) list of the nodes this node meshes with.
 *
 *   - name: node2          # node name; its certificate must carry spiffe://TD/latch/node/node2
 *     address: 10.99.0.12  # underlay address of its handshake listener
 *     port: 7443           # optional, default 7443
 *
 * An entry naming this node itself is skipped, so one file can serve every node.
 *
 * An empty file (no document, only whitespace or comments: what a truncated write leaves) is
 * invalid like any other bad edit, so the running list stays. Removing every peer takes an
 * explicit empty list: `[]`. Pure.
 */
import { z } from 'zod'
import { LatchError } from '../base/errors.js'
import { invalidError } from '../config/issues.js'
import { parseYamlText } from '../config/load.js'
import { ipAddress, nodeName, port } from '../config/net.js'
import { DEFAULTS } from '../config/schema.js'

export interface PeerEntry {
  readonly name: string
  readonly address: string
  readonly port: number
  /**
   * The node certificate's fingerprint (`sha256:<hex>`) when discovery names one (etcd registrations);
   * the handshake refuses a peer whose proven certificate differs. The peers file names none.
   */
  readonly fingerprint?: string
}

const entrySchema = z
  .object({ name: nodeName, address: ipAddress, port: port.default(DEFAULTS.listenPort) })
  .strict()

export const EMPTY_PEERS_FILE_MESSAGE =
  'the peers file is empty (a truncated write?); to remove every peer write an explicit empty list: []'

const fileSchema = z
  .array(entrySchema, { invalid_type_error: 'expected a list of {name, address, port}' })
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>()
    list.forEach((p, i) => {
      const first = seen.get(p.name)
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `${p.name} is already listed at [${first}]`,
        })
      }
      seen.set(p.name, i)
    })
  })

/** Validate a parsed peers document; entries for `self` are dropped. Result frozen, sorted by name. */
export function parsePeers(doc: unknown, file: string, self: string): readonly PeerEntry[] {
  if (doc === null || doc === undefined) {
    throw new LatchError(
      'LATCH_ERR_CONFIG_INVALID',
      `peers file ${file} is invalid: ${EMPTY_PEERS_FILE_MESSAGE}`,
      {
        details: { file },
      },
    )
  }
  const result = fileSchema.safeParse(doc)
  if (!result.success) throw invalidError('LATCH_ERR_CONFIG_INVALID', 'peers file', file, result.error)
  const peers = result.data
    .filter((p) => p.name !== self)
    .map((p) => Object.freeze({ name: p.name, address: p.address, port: p.port }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return Object.freeze(peers)
}

export function parsePeersText(text: string, file: string, self: string): readonly PeerEntry[] {
  return parsePeers(parseYamlText(text, file, 'peers file'), file, self)
}

/** What changed between two peer lists, by name. */
export function diffPeers(
  before: readonly PeerEntry[],
  after: readonly PeerEntry[],
): { added: PeerEntry[]; removed: PeerEntry[]; changed: PeerEntry[] } {
  const old = new Map(before.map((p) => [p.name, p]))
  const added: PeerEntry[] = []
  const changed: PeerEntry[] = []
  for (const p of after) {
    const o = old.get(p.name)
    if (!o) added.push(p)
    else if (o.address !== p.address || o.port !== p.port || o.fingerprint !== p.fingerprint) changed.push(p)
    old.delete(p.name)
  }
  return { added, removed: [...old.values()], changed }
}

/**
 * One node's registration in etcd: key `<prefix><node name>`, value a JSON object
 *
 *   {"v":1,"name":"node2","address":"10.99.0.12","port":7443,"fingerprint":"sha256:…"}
 *
 * `address`/`port` are the node's underlay handshake endpoint, `fingerprint` its node certificate's.
 * A registration is a hint: the handshake proves who is at that address and refuses the peer when the
 * certificate it proves is not the registered one. Pure.
 */
import { z } from 'zod'
import { FINGERPRINT_PATTERN } from '../../certs/fingerprint.js'
import { keyIssues } from '../config/issues.js'
import { ipAddress, nodeName, port } from '../config/net.js'
import type { PeerEntry } from './peers-file.js'

export const RECORD_VERSION = 1

export interface NodeRecord {
  name: string
  address: string
  port: number
  fingerprint: string
}

const recordSchema = z
  .object({
    v: z.literal(RECORD_VERSION),
    name: nodeName,
    address: ipAddress,
    port,
    fingerprint: z.string().regex(FINGERPRINT_PATTERN, 'expected sha256:<64 lowercase hex digits>'),
  })
  .strict()

export function recordKey(prefix: string, name: string): string {
  return `${prefix}${name}`
}

export function encodeRecord(r: NodeRecord): string {
  return JSON.stringify({
    v: RECORD_VERSION,
    name: r.name,
    address: r.address,
    port: r.port,
    fingerprint: r.fingerprint,
  })
}

export type RecordVerdict = { ok: true; record: NodeRecord } | { ok: false; problem: string }

/** Check one key/value under the prefix: valid JSON of the schema, and the key names the same node. */
export function parseRecord(prefix: string, key: string, value: string): RecordVerdict {
  const keyName = key.startsWith(prefix) ? key.slice(prefix.length) : key
  let doc: unknown
  try {
    doc = JSON.parse(value)
  } catch {
    return { ok: false, problem: 'the value is not JSON' }
  }
  const r = recordSchema.safeParse(doc)
  if (!r.success) {
    return {
      ok: false,
      problem: keyIssues(r.error)
        .map((i) => `${i.key}: ${i.message}`)
        .join('; '),
    }
  }
  if (r.data.name !== keyName) {
    return { ok: false, problem: `the key names node "${keyName}" but the record names "${r.data.name}"` }
  }
  const { name, address, port: p, fingerprint } = r.data
  return { ok: true, record: { name, address, port: p, fingerprint } }
}

export function recordToPeer(r: NodeRecord): PeerEntry {
  return Object.freeze({ name: r.name, address: r.address, port: r.port, fingerprint: r.fingerprint })
}

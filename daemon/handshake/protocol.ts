/**
 * The node-to-node control protocol, spoken over mutual TLS 1.3 on the handshake port (default 7443).
 *
 * After TLS, each side first checks the peer's certificate (and refuses at once if it fails), then
 * sends `hello`. On the peer's `hello` each side checks it and answers `accept` or `refuse`.
 * The session is established on a side when it has accepted and received the peer's `accept`.
 * The connection then stays open: `inventory` updates, `ping`/`pong` liveness, `bye` on a planned close.
 * Every message is one frame (framing.ts). Constants of the protocol live here; timings of this
 * implementation live in timing.ts.
 */
import { z } from 'zod'

export const PROTOCOL_VERSION = 1
/** RFC 8446 §7.5 exporter label of the WireGuard preshared key. */
export const PSK_EXPORTER_LABEL = 'EXPORTER-latch-wg-psk'
export const PSK_BYTES = 32
/** ALPN protocol id: a latch daemon never completes TLS with something that speaks another protocol. */
export const ALPN = 'latch-node/1'

const wgKey = z.string().regex(/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/, 'expected a base64 WireGuard key')
const short = z.string().max(2048)

export const workloadEntrySchema = z.object({ id: short, ips: z.array(short).max(64) }).strict()
export type WorkloadEntry = z.infer<typeof workloadEntrySchema>

export const helloSchema = z
  .object({
    type: z.literal('hello'),
    version: z.number().int(),
    node: short,
    wgPublicKey: wgKey,
    /** `ip:port` of the node's WireGuard listener. */
    endpoint: short,
    /** The node's tunnel address with prefix, e.g. 10.101.0.2/32. */
    tunnelAddress: short,
    workloadCidrs: z.array(short).max(256),
    /** The node's name-constrained intermediate CA certificate, PEM. */
    intermediatePem: z.string().max(16384),
    workloads: z.array(workloadEntrySchema).max(4096),
  })
  .strict()
export type Hello = z.infer<typeof helloSchema>

export const messageSchema = z.discriminatedUnion('type', [
  helloSchema,
  z.object({ type: z.literal('accept') }).strict(),
  z.object({ type: z.literal('refuse'), reason: z.string().max(64), message: z.string().max(2048) }).strict(),
  z.object({ type: z.literal('inventory'), workloads: z.array(workloadEntrySchema).max(4096) }).strict(),
  z.object({ type: z.literal('ping') }).strict(),
  z.object({ type: z.literal('pong') }).strict(),
  z.object({ type: z.literal('bye'), reason: z.string().max(256) }).strict(),
])
export type Message = z.infer<typeof messageSchema>
export type Refuse = Extract<Message, { type: 'refuse' }>

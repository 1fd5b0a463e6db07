/**
 * The parts of the CNI specification (v1.0.0, github.com/containernetworking/cni SPEC.md) latch-cni
 * speaks: the versions it accepts, the well-known error codes, and the result a chained plugin
 * receives as `prevResult` and passes on. Constants only; no I/O.
 */
import { z } from 'zod'

export const CNI_VERSION = '1.0.0'
/** Result formats whose prevResult latch-cni reads (0.4.0 and 1.0.0 share the fields used here). */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0'] as const

/** Well-known error codes (SPEC.md "Error"); 100 and up are latch-cni's own. */
export const CNI_ERR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** latchd refused the registration (the latch error code is in `details`). */
  latchdRefused: 100,
  /** The workload's allowed pairs were not authenticated within readyTimeout. */
  notReady: 101,
  /** No identity rule matched the container. */
  noIdentity: 102,
  /** CHECK: the registration is not what the result says. */
  checkFailed: 103,
} as const

export interface CniError {
  cniVersion: string
  code: number
  msg: string
  details?: string
}

const interfaceSchema = z
  .object({ name: z.string(), mac: z.string().optional(), sandbox: z.string().optional() })
  .passthrough()
const ipSchema = z
  .object({
    address: z.string(),
    gateway: z.string().optional(),
    interface: z.number().int().min(0).optional(),
  })
  .passthrough()

/** A CNI result (prevResult): only the fields latch-cni reads are checked; the rest pass through. */
export const resultSchema = z
  .object({
    cniVersion: z.string().optional(),
    interfaces: z.array(interfaceSchema).optional(),
    ips: z.array(ipSchema).optional(),
  })
  .passthrough()
export type CniResult = z.infer<typeof resultSchema>

/** `K=V;K2=V2` (CNI_ARGS) → map; empty keys are ignored. */
export function parseCniArgs(text: string | undefined): Map<string, string> {
  const m = new Map<string, string>()
  for (const part of (text ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0) m.set(part.slice(0, i).trim(), part.slice(i + 1).trim())
  }
  return m
}

/**
 * The addresses of the container interface `ifname` in `netns`, without their prefix length: the ips
 * whose `interface` index points at that sandbox interface (or that name no interface at all).
 */
export function containerIps(result: CniResult, ifname: string, netns: string | undefined): string[] {
  const ifs = result.interfaces ?? []
  const out: string[] = []
  for (const ip of result.ips ?? []) {
    if (ip.interface !== undefined) {
      const i = ifs[ip.interface]
      if (i === undefined || i.name !== ifname) continue
      if (netns !== undefined && i.sandbox !== undefined && i.sandbox !== netns) continue
    }
    out.push(ip.address.split('/')[0] as string)
  }
  return out
}

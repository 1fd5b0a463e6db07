/**
 * latch-cni's entry in a network configuration list (after the main plugin, e.g. ptp or bridge with
 * host-local IPAM). Field by field, with defaults; unknown keys are refused so a typo is not ignored.
 *
 *   { "type": "latch-cni",
 *     "controlSocket": "/run/latch/latchd.sock",   // latchd's control socket
 *     "readyTimeout": "10s",                        // wait this long for the allowed pairs (0s … 120s)
 *     "onTimeout": "fail",                          // fail (default): ADD fails and the registration is undone; succeed: ADD succeeds
 *     "identity": {                                 // identity.ts: selector file, then rules, then template
 *       "selectorFile": "/etc/latch/cni-identities.yaml",
 *       "rules": [{ "namespace": "shop", "name": "web-*", "spiffeId": "spiffe://example.org/ns/shop/sa/web" }],
 *       "template": "spiffe://example.org/ns/{namespace}/sa/{name}" } }
 */
import { z } from 'zod'
import { parseDurationMs } from '../base/duration.js'
import { MAX_WAIT_MS } from '../wire/workload.js'
import { resultSchema } from './spec.js'

export const DEFAULT_CONTROL_SOCKET = '/run/latch/latchd.sock'
export const DEFAULT_READY_TIMEOUT_MS = 10_000

const glob = z.string().min(1).max(256)

export const ruleSchema = z
  .object({
    /** Matched against K8S_POD_NAMESPACE (glob: * and ?). */
    namespace: glob.optional(),
    /** Matched against K8S_POD_NAME (podman: the container name). */
    name: glob.optional(),
    /** Matched against CNI_CONTAINERID. */
    containerId: glob.optional(),
    /** Other CNI_ARGS keys, each matched as a glob. */
    args: z.record(z.string(), glob).optional(),
    /** The SPIFFE ID; may use {namespace}, {name}, {containerId} and {args.KEY}. */
    spiffeId: z.string().min(1).max(2048),
  })
  .strict()
export type IdentityRule = z.infer<typeof ruleSchema>

export const selectorFileSchema = z.object({ rules: z.array(ruleSchema) }).strict()

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : parseDurationMs(v)
  if (ms === undefined || ms < 0 || ms > MAX_WAIT_MS) {
    ctx.addIssue({ code: 'custom', message: `expected a duration from 0s to 120s, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return ms
})

export const netConfSchema = z
  .object({
    cniVersion: z.string(),
    name: z.string(),
    type: z.literal('latch-cni'),
    controlSocket: z.string().min(1).default(DEFAULT_CONTROL_SOCKET),
    readyTimeout: duration.default(`${DEFAULT_READY_TIMEOUT_MS}ms`),
    onTimeout: z.enum(['fail', 'succeed']).default('fail'),
    identity: z
      .object({
        selectorFile: z.string().min(1).optional(),
        rules: z.array(ruleSchema).default([]),
        template: z.string().min(1).max(2048).optional(),
      })
      .strict()
      .default({}),
    prevResult: resultSchema.optional(),
    // set by runtimes; accepted and not used
    runtimeConfig: z.unknown().optional(),
    args: z.unknown().optional(),
    capabilities: z.unknown().optional(),
    disableCheck: z.boolean().optional(),
  })
  .strict()
export type NetConf = z.output<typeof netConfSchema>

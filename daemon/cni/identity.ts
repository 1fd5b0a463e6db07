/**
 * Which SPIFFE ID a container gets — the documented rule of latch-cni. Pure.
 *
 * Inputs: K8S_POD_NAMESPACE and K8S_POD_NAME from CNI_ARGS (kubelet passes them; podman passes the
 * container name as both), CNI_CONTAINERID, and every other CNI_ARGS key.
 *  1. the rules of identity.selectorFile, in file order, then identity.rules, in order: the first
 *     whose matchers (namespace, name, containerId, args.KEY; globs with * and ?) all match wins;
 *  2. else identity.template, when every placeholder it uses has a value;
 *  3. else there is no identity: ADD fails (CNI code 102) and the container gets no network.
 * A rule's spiffeId and the template may use {namespace}, {name}, {containerId} and {args.KEY}.
 * latchd then checks the ID is a valid SPIFFE ID of its trust domain.
 */
import type { IdentityRule } from './config.js'

export interface IdentityInput {
  containerId: string
  args: ReadonlyMap<string, string>
}

function globMatch(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${re}$`).test(value)
}

function values(input: IdentityInput): Map<string, string> {
  const v = new Map<string, string>()
  const ns = input.args.get('K8S_POD_NAMESPACE')
  const name = input.args.get('K8S_POD_NAME')
  if (ns) v.set('namespace', ns)
  if (name) v.set('name', name)
  v.set('containerId', input.containerId)
  for (const [k, x] of input.args) v.set(`args.${k}`, x)
  return v
}

/** Fills {placeholders}; undefined when one has no value. */
function fill(template: string, v: ReadonlyMap<string, string>): string | undefined {
  let missing = false
  const out = template.replace(/\{([A-Za-z0-9_.]+)\}/g, (_, key: string) => {
    const x = v.get(key)
    if (x === undefined) missing = true
    return x ?? ''
  })
  return missing ? undefined : out
}

function matches(rule: IdentityRule, v: ReadonlyMap<string, string>): boolean {
  const want: Array<[string, string | undefined]> = [
    ['namespace', rule.namespace],
    ['name', rule.name],
    ['containerId', rule.containerId],
    ...Object.entries(rule.args ?? {}).map(([k, g]): [string, string] => [`args.${k}`, g]),
  ]
  return want.every(([key, g]) => g === undefined || (v.has(key) && globMatch(g, v.get(key) as string)))
}

export type IdentityDecision = { ok: true; spiffeId: string; by: string } | { ok: false; message: string }

export function chooseIdentity(
  input: IdentityInput,
  fileRules: readonly IdentityRule[],
  rules: readonly IdentityRule[],
  template: string | undefined,
): IdentityDecision {
  const v = values(input)
  const all: Array<[IdentityRule, string]> = [
    ...fileRules.map((r, i): [IdentityRule, string] => [r, `selector file rule ${i + 1}`]),
    ...rules.map((r, i): [IdentityRule, string] => [r, `identity.rules[${i}]`]),
  ]
  for (const [rule, where] of all) {
    if (!matches(rule, v)) continue
    const id = fill(rule.spiffeId, v)
    if (id !== undefined) return { ok: true, spiffeId: id, by: where }
  }
  if (template !== undefined) {
    const id = fill(template, v)
    if (id !== undefined) return { ok: true, spiffeId: id, by: 'identity.template' }
  }
  const known = [...v.keys()].join(', ')
  return {
    ok: false,
    message: `no identity rule matched container ${input.containerId} (${known})${template === undefined ? ' and there is no identity.template' : `; identity.template ${template} needs a value that is missing`}`,
  }
}

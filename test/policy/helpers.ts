/** Shared fixtures for the policy tests. */
export const TD = 'example.org'
export const WEB = 'spiffe://example.org/ns/shop/sa/web'
export const API = 'spiffe://example.org/ns/shop/sa/api'
export const DB = 'spiffe://example.org/ns/shop/sa/db'
export const DNS = 'spiffe://example.org/ns/infra/sa/dns'
export const MON = 'spiffe://example.org/ns/ops/sa/monitor'

/** A policy file text from its allow: and tests: bodies (YAML lines, already indented). */
export function policyText(allow: string[], tests: string[] = []): string {
  const lines = ['version: 1', `trustDomain: ${TD}`, allow.length === 0 ? 'allow: []' : 'allow:', ...allow]
  if (tests.length > 0) lines.push('tests:', ...tests)
  return `${lines.join('\n')}\n`
}

export function rule(from: string, to: string, ports?: string): string[] {
  const out = [`  - from: ${from}`, `    to: ${to}`]
  if (ports !== undefined) out.push(`    ports: [${ports}]`)
  return out
}

export function check(from: string, to: string, expect: string, port?: string): string[] {
  const out = [`  - from: ${from}`, `    to: ${to}`]
  if (port !== undefined) out.push(`    port: ${port}`)
  out.push(`    expect: ${expect}`)
  return out
}

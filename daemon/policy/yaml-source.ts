/**
 * YAML text → a document whose every node knows its line and column, plus the collector the
 * validator reports problems to. Pure.
 */
import { Document, isMap, isNode, isPair, isScalar, LineCounter, type Node } from 'yaml'
import { parseYamlBounded } from '../base/yaml-bounded.js'
import type { PolicyProblem, SourcePos } from './types.js'

export interface ParsedSource {
  readonly doc: Document.Parsed
  readonly problems: Problems
  /** The text was refused before validation (nested too deeply, a collection key): see problems. */
  readonly refused: boolean
}

/** Collects problems in file order; positions come from node ranges via the line counter. */
export class Problems {
  readonly #lines: LineCounter
  readonly #list: PolicyProblem[] = []

  constructor(lines: LineCounter) {
    this.#lines = lines
  }

  posOf(offset: number): SourcePos {
    const { line, col } = this.#lines.linePos(offset)
    return { line, col }
  }

  /** Position of a node (or of the start of the file when there is none). */
  posOfNode(node: unknown): SourcePos {
    if (isNode(node) && node.range) return this.posOf(node.range[0])
    if (isPair(node)) return this.posOfNode(node.key)
    return { line: 1, col: 1 }
  }

  at(node: unknown, path: string, message: string): void {
    this.#list.push({ ...this.posOfNode(node), path, message })
  }

  atOffset(offset: number, path: string, message: string): void {
    this.#list.push({ ...this.posOf(offset), path, message })
  }

  get count(): number {
    return this.#list.length
  }

  /** All problems, sorted by position (stable for the same position). */
  list(): PolicyProblem[] {
    return [...this.#list].sort((x, y) => x.line - y.line || x.col - y.col)
  }
}

/** Parse YAML keeping node ranges; YAML syntax errors and warnings become problems. */
export function parseSource(text: string): ParsedSource {
  const lines = new LineCounter()
  const parsed = parseYamlBounded(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const problems = new Problems(lines)
  if (parsed.limit) {
    problems.atOffset(parsed.limit.offset, '', parsed.limit.message)
    return { doc: new Document(null) as Document.Parsed, problems, refused: true }
  }
  const doc = parsed.doc
  for (const e of [...doc.errors, ...doc.warnings]) {
    problems.atOffset(e.pos[0], '', yamlMessage(e.code, e.message))
  }
  return { doc, problems, refused: false }
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
  switch (code) {
    case 'DUPLICATE_KEY':
      return `${first}; each key may appear once in a map, delete or merge the repeated one`
    case 'MULTIPLE_DOCS':
      return 'the file holds more than one YAML document ("---"); a policy file is one document'
    case 'TAB_AS_INDENT':
      return `${first}; indent YAML with spaces`
    default:
      return `YAML syntax: ${first}`
  }
}

/** A map key as text, or undefined when it is not a plain scalar. */
export function keyText(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined
  return typeof key.value === 'string' ? key.value : String(key.value)
}

/** Small edit distance, for "did you mean" hints on unknown keys. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]!
}

/** Short description of what a node is, for "expected X, found Y" messages. */
export function describeNode(node: Node | null | undefined): string {
  if (node === null || node === undefined) return 'nothing'
  if (isMap(node)) return 'a map'
  if (isScalar(node)) {
    if (node.value === null) return 'nothing'
    if (typeof node.value === 'string') return `the text "${node.value}"`
    return `${typeof node.value} ${String(node.value)}`
  }
  if (isNode(node) && 'items' in node) return 'a list'
  return 'an alias'
}

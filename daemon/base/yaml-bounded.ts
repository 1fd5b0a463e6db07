/**
 * YAML parsing with bounds, for every file latchd reads as YAML (config, policy, revocations).
 * The yaml library recurses once per nesting level, both in its parser and in toJS(), and toJS()
 * stringifies collection keys (`? [a]: b`) at a cost that grows much faster than the text: a
 * policy of a few hundred `? ` nests for minutes, a deep enough one overflows the stack
 * (RangeError). No file latch reads needs either, so a document nested deeper than
 * YAML_MAX_DEPTH, or with a map or list as a key, is refused with a clear problem before toJS()
 * runs, and a stack overflow anywhere in parsing becomes that same problem. Pure.
 */
import {
  type Document,
  type DocumentOptions,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type ParseOptions,
  parseDocument,
  type SchemaOptions,
} from 'yaml'

/** Deeper than any latch file needs (the policy is ~6 levels) and far below the stack's limit. */
export const YAML_MAX_DEPTH = 64

/** Why a document was refused before its content was looked at; `offset` is into the text. */
export interface YamlLimitProblem {
  readonly offset: number
  readonly message: string
}

export type BoundedParse =
  | { readonly doc: Document.Parsed; readonly limit?: undefined }
  | { readonly doc?: undefined; readonly limit: YamlLimitProblem }

const TOO_DEEP = `the YAML nests deeper than ${YAML_MAX_DEPTH} levels; no latch file needs that, flatten it`

/** parseDocument(), then the depth and key checks; never throws for any text. */
export function parseYamlBounded(
  text: string,
  options: ParseOptions & DocumentOptions & SchemaOptions = {},
): BoundedParse {
  let doc: Document.Parsed
  try {
    doc = parseDocument(text, options)
  } catch (err) {
    if (err instanceof RangeError) return { limit: { offset: 0, message: TOO_DEEP } }
    throw err
  }
  // the library reports a stack overflow of its own composer as an error (RESOURCE_EXHAUSTION)
  const exhausted = doc.errors.find((e) => e.code === 'RESOURCE_EXHAUSTION')
  if (exhausted) return { limit: { offset: exhausted.pos[0], message: TOO_DEEP } }
  // other syntax errors are the caller's to report, with their positions; the document is still
  // checked, since a caller may look at what did parse
  const limit = checkShape(doc.contents)
  return limit ? { limit } : { doc }
}

/** doc.toJS(), with a stack overflow (never expected after the checks) reported like one. */
export function toJSBounded(doc: Document.Parsed): { value: unknown } | { limit: YamlLimitProblem } {
  try {
    return { value: doc.toJS() }
  } catch (err) {
    if (err instanceof RangeError) return { limit: { offset: 0, message: TOO_DEEP } }
    throw err
  }
}

/** Iterative walk (no recursion, so any depth is safe): depth bound and scalar keys. */
function checkShape(root: unknown): YamlLimitProblem | undefined {
  const stack: Array<[unknown, number]> = [[root, 0]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    if (!isMap(node) && !isSeq(node)) continue
    if (depth >= YAML_MAX_DEPTH) return { offset: node.range?.[0] ?? 0, message: TOO_DEEP }
    for (const item of node.items) {
      if (isPair(item)) {
        const key = item.key
        if (key !== null && !isScalar(key)) {
          const offset = (key as { range?: [number] }).range?.[0] ?? node.range?.[0] ?? 0
          return {
            offset,
            message:
              'a map key is not plain text (a map or list after "? ", or an alias); write the key as text',
          }
        }
        stack.push([item.value, depth + 1])
      } else {
        stack.push([item, depth + 1])
      }
    }
  }
  return undefined
}

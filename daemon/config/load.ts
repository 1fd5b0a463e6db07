/**
 * Loading the latchd config: file → YAML (or JSON) → schema → relative paths resolved against the
 * file's directory → deeply frozen Config. "No file" (LATCH_ERR_CONFIG_MISSING) is kept apart from
 * "a file that is wrong" (LATCH_ERR_CONFIG_INVALID, naming the key and the line for syntax errors).
 */
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { LineCounter } from 'yaml'
import { LatchError } from '../base/errors.js'
import { parseYamlBounded, toJSBounded } from '../base/yaml-bounded.js'
import { invalidError } from './issues.js'
import { type Config, configSchema } from './schema.js'

/** Read a YAML/JSON file; ENOENT → LATCH_ERR_CONFIG_MISSING, syntax → LATCH_ERR_CONFIG_INVALID. */
export async function readYamlFile(file: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new LatchError('LATCH_ERR_CONFIG_MISSING', `${what} ${file} does not exist`, {
        cause: err,
        details: { file },
      })
    }
    throw new LatchError(
      'LATCH_ERR_CONFIG_INVALID',
      `${what} ${file} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
        details: { file },
      },
    )
  }
  return parseYamlText(text, file, what)
}

export function parseYamlText(text: string, file: string, what: string): unknown {
  const lines = new LineCounter()
  const parsed = parseYamlBounded(text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines })
  const refused = (offset: number, message: string) => {
    const { line, col } = lines.linePos(offset)
    return new LatchError(
      'LATCH_ERR_CONFIG_INVALID',
      `${what} ${file} is not valid YAML at line ${line}, column ${col}: ${message}`,
      { details: { file, line, column: col } },
    )
  }
  if (parsed.limit) throw refused(parsed.limit.offset, parsed.limit.message)
  const doc = parsed.doc
  const first = doc.errors[0]
  if (first) {
    const pos = first.linePos?.[0]
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : ''
    throw new LatchError(
      'LATCH_ERR_CONFIG_INVALID',
      `${what} ${file} is not valid YAML${where}: ${first.message}`,
      {
        details: { file, line: pos?.line, column: pos?.col },
      },
    )
  }
  const js = toJSBounded(doc)
  if ('limit' in js) throw refused(js.limit.offset, js.limit.message)
  return js.value
}

/** Validate an already-parsed document; `file` names it in errors and anchors relative paths. */
export function parseConfig(doc: unknown, file: string): Config {
  const result = configSchema.safeParse(doc ?? {})
  if (!result.success) throw invalidError('LATCH_ERR_CONFIG_INVALID', 'config', file, result.error)
  return deepFreeze(resolvePaths(result.data, dirname(resolve(file))))
}

export async function loadConfig(file: string): Promise<Config> {
  return parseConfig(await readYamlFile(file, 'config'), file)
}

function resolvePaths(c: Config, base: string): Config {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  const optAbs = (p: string | undefined) => (p === undefined ? undefined : abs(p))
  return {
    ...c,
    pki: {
      caFile: abs(c.pki.caFile),
      certFile: abs(c.pki.certFile),
      keyFile: abs(c.pki.keyFile),
      intermediateCertFile: abs(c.pki.intermediateCertFile),
      intermediateKeyFile: abs(c.pki.intermediateKeyFile),
      revocationFile: optAbs(c.pki.revocationFile),
    },
    wireguard: { ...c.wireguard, privateKeyFile: abs(c.wireguard.privateKeyFile) },
    peersFile: optAbs(c.peersFile),
    ...(c.etcd && {
      etcd: {
        ...c.etcd,
        caFile: abs(c.etcd.caFile),
        certFile: abs(c.etcd.certFile),
        keyFile: abs(c.etcd.keyFile),
      },
    }),
    controlSocket: abs(c.controlSocket),
    workloads: c.workloads.map((w) => ({ ...w, certFile: optAbs(w.certFile), keyFile: optAbs(w.keyFile) })),
    registrations: {
      ...c.registrations,
      file: abs(c.registrations.file),
      svidDir: abs(c.registrations.svidDir),
    },
  }
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

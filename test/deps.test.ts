/**
 * The dependency fence (DESIGN §2, README "Layout"): every source file under daemon/ and certs/
 * imports only the folders its row below allows, and only the kernel adapters reach the kernel. A
 * new folder needs a row; an import that breaks the drawing fails here with the file and the line.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import test from 'ava'
import ts from 'typescript'

const repo = resolve(import.meta.dirname, '..')

const BASE = ['daemon/base', 'daemon/wire']
/** Folder → the folders it may import (besides itself). `*` = any but the listed exceptions. */
const ALLOWED: Record<string, readonly string[]> = {
  'daemon/base': [],
  'daemon/wire': ['daemon/base'],
  certs: ['daemon/base'],
  'daemon/config': BASE,
  'daemon/policy': BASE,
  'daemon/observe': BASE,
  'daemon/datapath': BASE,
  'daemon/identity': [...BASE, 'certs', 'daemon/config'],
  'daemon/handshake': [...BASE, 'certs', 'daemon/config'],
  'daemon/pairauth': [
    ...BASE,
    'certs',
    'daemon/config',
    'daemon/handshake',
    'daemon/identity',
    'daemon/policy',
  ],
  'daemon/transport': [...BASE, 'daemon/config'],
  'daemon/discovery': [...BASE, 'certs', 'daemon/config'],
  'daemon/engine': [...BASE, 'daemon/config', 'daemon/policy', 'daemon/transport', 'daemon/datapath'],
  // the control socket: server and client over wire/ types, nothing of the daemon behind it
  'daemon/control': BASE,
  // the orchestrator reaches the kernel only through the engine
  'daemon/node': [
    ...BASE,
    'certs',
    'daemon/config',
    'daemon/policy',
    'daemon/observe',
    'daemon/identity',
    'daemon/handshake',
    'daemon/pairauth',
    'daemon/discovery',
    'daemon/engine',
    'daemon/control',
  ],
  // latch-cni: talks to latchd through control/ and wire/; engine/interfaces.ts finds the host side of
  // the container's veth
  'daemon/cni': [...BASE, 'daemon/control', 'daemon/engine'],
  'daemon/lab': [...BASE, 'certs', 'daemon/config', 'daemon/control'],
  // latchctl talks to a running latchd only through control/ and wire/; offline commands use the
  // pure policy compiler, the PKI and the lab
  'daemon/cli': [...BASE, 'certs', 'daemon/config', 'daemon/policy', 'daemon/control', 'daemon/lab'],
  // latchd.ts: the entry point
  daemon: [...BASE, 'daemon/config', 'daemon/observe', 'daemon/node'],
}

/** Single files allowed across a row, each with its reason (keep this list short). */
const EXCEPTIONS: Record<string, string> = {
  // sd_notify's AF_UNIX datagram send lives in the one native addon, which datapath/native.ts loads
  'daemon/node/systemd.ts -> daemon/datapath/native.ts': 'the native addon loader',
  // an offline command that loads the real programs into scratch pin dirs, talking to no latchd
  'daemon/cli/commands/policy.ts -> daemon/engine/policy-datapath-test.ts': 'policy test --datapath',
}

/** Modules that reach the kernel or spawn processes: only the adapters (and the lab) import them. */
const KERNEL_MODULES = ['netlink', 'execa', 'node:child_process', 'child_process']
const KERNEL_FOLDERS = ['daemon/transport', 'daemon/datapath', 'daemon/engine', 'daemon/lab', 'daemon/cli']

interface Violation {
  file: string
  line: number
  target: string
  why: string
}

/** The folder a repo-relative path belongs to: `daemon/<x>` or `certs`, `daemon` for daemon/*.ts. */
function folderOf(path: string): string {
  const parts = path.split('/')
  if (parts[0] === 'daemon') return parts.length > 2 ? `daemon/${parts[1]}` : 'daemon'
  return parts[0] ?? path
}

/** The fence's verdict on one file's imports (pure: path and source in, violations out). */
function checkFile(file: string, source: string): Violation[] {
  const from = folderOf(file)
  const allowed = ALLOWED[from]
  const found = ts.preProcessFile(source, true, true).importedFiles
  const out: Violation[] = []
  const lineOf = (pos: number) => source.slice(0, pos).split('\n').length
  if (allowed === undefined) {
    return [{ file, line: 1, target: from, why: `folder ${from} has no row in test/deps.test.ts ALLOWED` }]
  }
  for (const imp of found) {
    const spec = imp.fileName
    if (spec.startsWith('.')) {
      const target = relative(repo, resolve(repo, dirname(file), spec))
      if (target.startsWith('..')) {
        out.push({ file, line: lineOf(imp.pos), target, why: 'imports outside the repository' })
        continue
      }
      const to = folderOf(target)
      const exception = EXCEPTIONS[`${file} -> ${target.replace(/\.js$/, '.ts')}`]
      if (to !== from && !allowed.includes(to) && exception === undefined) {
        out.push({ file, line: lineOf(imp.pos), target, why: `${from} may not import ${to}` })
      }
    } else if (KERNEL_MODULES.includes(spec) && !KERNEL_FOLDERS.includes(from)) {
      out.push({ file, line: lineOf(imp.pos), target: spec, why: `${from} is not a kernel adapter` })
    }
  }
  return out
}

function sources(dir: string): string[] {
  return readdirSync(join(repo, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => `${dir}/${f}`)
}

test('no file under daemon/ or certs/ imports across the fence', (t) => {
  const files = [...sources('daemon'), ...sources('certs')]
  t.true(files.length > 100, 'the scan found the sources')
  const violations = files.flatMap((f) => checkFile(f, readFileSync(join(repo, f), 'utf8')))
  t.deepEqual(
    violations.map((v) => `${v.file}:${v.line} → ${v.target}: ${v.why}`),
    [],
  )
})

test('every folder under daemon/ has a row', (t) => {
  const dirs = readdirSync(join(repo, 'daemon'), { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => `daemon/${d.name}`)
  t.deepEqual(
    dirs.filter((d) => ALLOWED[d] === undefined),
    [],
  )
})

test('the fence catches upward, cross and kernel imports (it can fail)', (t) => {
  t.deepEqual(
    checkFile('certs/ca.ts', "import { Mesh } from '../daemon/node/mesh.js'\n").map((v) => v.why),
    ['certs may not import daemon/node'],
  )
  t.deepEqual(
    checkFile('daemon/base/clock.ts', "\n\nimport type { X } from '../wire/control.js'\n").map((v) => [
      v.line,
      v.why,
    ]),
    [[3, 'daemon/base may not import daemon/wire']],
  )
  t.deepEqual(
    checkFile('daemon/cli/commands/x.ts', "const m = await import('../../engine/index.js')\n").map(
      (v) => v.why,
    ),
    ['daemon/cli may not import daemon/engine'],
  )
  t.deepEqual(
    checkFile('daemon/policy/compile.ts', "export * from '../node/peer.js'\n").map((v) => v.why),
    ['daemon/policy may not import daemon/node'],
  )
  t.deepEqual(
    checkFile('daemon/node/x.ts', "import { execa } from 'execa'\n").map((v) => v.why),
    ['daemon/node is not a kernel adapter'],
  )
  t.deepEqual(checkFile('daemon/engine/x.ts', "import { x } from '../transport/wg.js'\nimport 'execa'\n"), [])
  t.deepEqual(
    checkFile('daemon/newfolder/x.ts', '').map((v) => v.why),
    ['folder daemon/newfolder has no row in test/deps.test.ts ALLOWED'],
  )
})

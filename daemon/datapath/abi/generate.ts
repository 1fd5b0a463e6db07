/**
 * Regenerates daemon/datapath/abi/generated.ts from the BTF of bpf/abi.o.
 *
 *   npx tsx daemon/datapath/abi/generate.ts           write generated.ts
 *   npx tsx daemon/datapath/abi/generate.ts --check   exit 1 if generated.ts is stale
 *
 * bpf/abi.o comes from `make -C bpf` (scripts/build). test/datapath/abi.test.ts runs the check too.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { LatchError } from '../../base/errors.js'
import { modelFromBtf } from './btf.js'
import { renderModule } from './render.js'

const here = dirname(fileURLToPath(import.meta.url))
export const REPO_ROOT = join(here, '..', '..', '..')
export const ABI_OBJECT = join(REPO_ROOT, 'bpf', 'abi.o')
export const GENERATED_FILE = join(here, 'generated.ts')

/** The TypeScript source generated.ts should contain, from the BTF of `object`. */
export async function generateSource(object = ABI_OBJECT): Promise<string> {
  const r = await execa('bpftool', ['-j', 'btf', 'dump', 'file', object], { reject: false })
  if (r.exitCode !== 0) {
    throw new LatchError('LATCH_ERR_BPF_OBJECT_MISSING', `bpftool could not read the BTF of ${object}`, {
      details: { stderr: r.stderr.trim(), exitCode: r.exitCode },
    })
  }
  return format(renderModule(modelFromBtf(JSON.parse(r.stdout))))
}

/** Runs the source through the repository's formatter so generated.ts passes `biome check` as is. */
async function format(source: string): Promise<string> {
  const biome = join(REPO_ROOT, 'node_modules', '.bin', 'biome')
  const r = await execa(biome, ['format', `--stdin-file-path=${GENERATED_FILE}`], {
    input: source,
    cwd: REPO_ROOT,
    reject: false,
  })
  if (r.exitCode !== 0) {
    throw new LatchError('LATCH_ERR_INTERNAL_BUG', 'biome could not format the generated ABI module', {
      details: { stderr: r.stderr.trim() },
    })
  }
  return r.stdout.endsWith('\n') ? r.stdout : `${r.stdout}\n`
}

async function main(argv: string[]): Promise<number> {
  const source = await generateSource()
  if (argv.includes('--check')) {
    const current = await readFile(GENERATED_FILE, 'utf8').catch(() => '')
    if (current !== source) {
      process.stderr.write(`${GENERATED_FILE} is stale: run npx tsx daemon/datapath/abi/generate.ts\n`)
      return 1
    }
    return 0
  }
  await writeFile(GENERATED_FILE, source)
  process.stdout.write(`wrote ${GENERATED_FILE}\n`)
  return 0
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2))
}

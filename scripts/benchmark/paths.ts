/** Where the benchmark's files live. */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
export const LOAD_CLIENT = join(REPO, 'scripts', 'benchmark', 'load', 'client.ts')
export const ECHO_SERVER = join(REPO, 'scripts', 'benchmark', 'load', 'echo-server.ts')
/** Scratch files (haproxy configs and PEMs): created 0700, removed at the end. */
export const SCRATCH_DIR = '/run/latch-bench'
export const DEFAULT_JSON = join(REPO, 'bench-results', 'bench.json')

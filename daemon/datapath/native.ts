/**
 * The native libbpf addon (native/, built by scripts/build) with its types, and the one place its
 * errors become LatchErrors. The addon throws Errors carrying `code` (a LATCH_ERR_BPF_* code),
 * `errno`, `syscall` and sometimes `log` (libbpf's messages, e.g. the verifier log).
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERRORS, type ErrorCode, LatchError } from '../base/errors.js'

export type TcDirection = 'ingress' | 'egress'

export interface NativeProgram {
  name: string
  fd: number
  id: number
  tag: string
  type: number
}

export interface NativeMapDesc {
  name: string
  fd: number
  type: number
  keySize: number
  valueSize: number
  maxEntries: number
  pinPath: string | null
  internal: boolean
}

export interface NativeMapInfo {
  id: number
  name: string
  type: number
  keySize: number
  valueSize: number
  /** bytes of a value buffer: valueSize, or for per-CPU maps round8(valueSize) * possible CPUs */
  valueBufSize: number
  maxEntries: number
  flags: number
  perCpu: boolean
}

export interface NativeBpfObject {
  programs(): NativeProgram[]
  maps(): NativeMapDesc[]
  pinProgram(name: string, path: string): void
  close(): void
}

export interface NativeBpfMap {
  info(): NativeMapInfo
  fd(): number
  lookup(key: Buffer, value: Buffer): boolean
  update(key: Buffer, value: Buffer, flags?: number): void
  delete(key: Buffer): boolean
  updateBatch(keys: Buffer, values: Buffer, count: number, flags?: number): number
  deleteMany(keys: Buffer, count: number): number
  dump(): { keys: Buffer; values: Buffer; count: number }
  close(): void
}

export interface NativeRingBuffer {
  consume(): number
  ref(): void
  unref(): void
  close(): void
}

export interface TestRunOptions {
  data: Buffer
  repeat?: number
  ifindex?: number
  ingressIfindex?: number
  mark?: number
}

export interface TestRunResult {
  retval: number
  data: Buffer
  /** average ns per run as the kernel measured it */
  durationNs: number
}

export interface AbiField {
  offset: number
  size: number
}

export interface NativeAddon {
  BpfObject: new (path: string, pinRoot: string | null) => NativeBpfObject
  BpfMap: new (fdOrPinnedPath: number | string) => NativeBpfMap
  RingBuffer: new (mapFd: number, callback: (records: Buffer[]) => void) => NativeRingBuffer
  tcHookCreate(ifindex: number, direction: TcDirection): boolean
  tcAttach(
    ifindex: number,
    direction: TcDirection,
    progFd: number,
    handle: number,
    priority: number,
    replace: boolean,
  ): number
  tcDetach(ifindex: number, direction: TcDirection, handle: number, priority: number): boolean
  tcQuery(ifindex: number, direction: TcDirection, handle: number, priority: number): number
  progTestRun(progFd: number, options: TestRunOptions): TestRunResult
  objGet(path: string): number
  objPin(fd: number, path: string): void
  closeFd(fd: number): void
  progInfo(fd: number): { id: number; tag: string; name: string; type: number }
  progFdById(id: number): number
  bootTimeNs(): bigint
  realTimeNs(): bigint
  ifNameToIndex(name: string): number
  ifIndexToName(ifindex: number): string | null
  numPossibleCpus(): number
  /** SO_BINDTODEVICE on a socket fd (native/src/sockopt.cc). */
  bindToDevice(fd: number, ifname: string): void
  /** One datagram to an AF_UNIX SOCK_DGRAM socket; "@name" is abstract (native/src/notify.cc). */
  unixDatagramSend(path: string, message: string): void
  abi: {
    structs: Record<string, { size: number; align: number; fields: Record<string, AbiField> }>
    consts: Record<string, number>
  }
}

const here = dirname(fileURLToPath(import.meta.url))
/** Works from the sources (daemon/datapath) and from the compiled tree (dist/daemon/datapath). */
function repoRoot(): string {
  for (const up of [join(here, '..', '..'), join(here, '..', '..', '..')]) {
    if (existsSync(join(up, 'native', 'binding.gyp'))) return up
  }
  return join(here, '..', '..')
}

export const REPO_ROOT = repoRoot()
export const ADDON_PATH = join(REPO_ROOT, 'native', 'build', 'Release', 'latch_bpf.node')
export const BPF_DIR = join(REPO_ROOT, 'bpf')

let cached: NativeAddon | undefined

/** The addon, loaded once. Throws LATCH_ERR_BPF_ADDON_MISSING when it was not built. */
export function native(): NativeAddon {
  if (cached) return cached
  if (!existsSync(ADDON_PATH)) {
    throw new LatchError('LATCH_ERR_BPF_ADDON_MISSING', `the native addon ${ADDON_PATH} does not exist`)
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon
  } catch (err) {
    throw new LatchError(
      'LATCH_ERR_BPF_ADDON_MISSING',
      `the native addon ${ADDON_PATH} could not be loaded`,
      {
        cause: err,
      },
    )
  }
  return cached
}

interface AddonError extends Error {
  code?: string
  errno?: number
  syscall?: string
  log?: string
  done?: number
}

/** Turns an error thrown by the addon into a LatchError (anything else passes through). */
export function fromNative(err: unknown, context?: string): unknown {
  const e = err as AddonError
  if (!(err instanceof Error) || typeof e.code !== 'string' || !(e.code in ERRORS)) return err
  const details: Record<string, unknown> = { errno: e.errno, syscall: e.syscall }
  if (e.log) details.log = e.log
  if (e.done !== undefined) details.done = e.done
  const message = context ? `${context}: ${e.message}` : e.message
  return new LatchError(e.code as ErrorCode, message, { cause: err, details })
}

/** Runs `fn` and rethrows addon errors as LatchErrors. */
export function call<T>(fn: () => T, context?: string): T {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err, context)
  }
}

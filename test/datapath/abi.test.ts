/**
 * The TypeScript encoders and the C header agree: every struct size and every field offset/size of
 * generated.ts equals what the C++ compiler computed in the native addon (sizeof/offsetof over
 * bpf/include/latch_abi.h), every enum constant matches, and generated.ts is what the generator
 * produces from the current bpf/abi.o (so a header change without regenerating fails here).
 */
import { readFile } from 'node:fs/promises'
import test from 'ava'
import { GENERATED_FILE, generateSource } from '../../daemon/datapath/abi/generate.js'
import * as abi from '../../daemon/datapath/abi/generated.js'
import { native } from '../../daemon/datapath/native.js'

const addon = native()

test('generated.ts is up to date with the BTF of bpf/abi.o', async (t) => {
  const [current, fresh] = await Promise.all([readFile(GENERATED_FILE, 'utf8'), generateSource()])
  t.is(current, fresh, 'run `npx tsx daemon/datapath/abi/generate.ts` after changing latch_abi.h')
})

test('the addon and the generated module know the same structs', (t) => {
  t.deepEqual(Object.keys(abi.LAYOUTS).sort(), Object.keys(addon.abi.structs).sort())
})

for (const [name, layout] of Object.entries(abi.LAYOUTS)) {
  test(`struct ${name} has the same size and field layout in C and TypeScript`, (t) => {
    const c = addon.abi.structs[name]
    t.truthy(c, `the addon does not list struct ${name}`)
    t.is(layout.size as number, c!.size, 'sizeof')
    t.deepEqual(
      Object.fromEntries(
        Object.entries(layout.fields).map(([f, v]) => [f, { offset: v.offset, size: v.size }]),
      ),
      c!.fields,
      'offsetof/sizeof of every field',
    )
  })
}

test('every enum constant has the same value in C and TypeScript', (t) => {
  const generated: Record<string, number> = {}
  for (const e of [
    abi.LatchLimits,
    abi.LatchIpcacheFlags,
    abi.LatchReason,
    abi.LatchEventType,
    abi.LatchDirection,
    abi.LatchIdentity,
    abi.LatchCtDefaults,
    abi.LatchPolicyFlags,
    abi.LatchCtState,
    abi.LatchCtFlags,
  ]) {
    Object.assign(generated, e)
  }
  t.deepEqual(generated, addon.abi.consts)
})

test('an encoder round-trips through its decoder', (t) => {
  const ev = {
    tsNs: 123456789012345n,
    type: 1,
    reason: 5,
    srcId: 7,
    dstId: 9,
    ifindex: 3,
    ingressIfindex: 4,
    suppressed: 2,
    len: 60,
    sport: 40000,
    dport: 443,
    family: 4,
    proto: 6,
    direction: 2,
    src: { addr: Uint8Array.from({ length: 16 }, (_, i) => i) },
    dst: { addr: Uint8Array.from({ length: 16 }, (_, i) => 255 - i) },
  }
  const buf = abi.encodeLatchEvent(ev)
  t.is(buf.length, abi.LatchEventLayout.size)
  const back = abi.decodeLatchEvent(buf)
  t.deepEqual(
    { ...back, src: { addr: [...back.src.addr] }, dst: { addr: [...back.dst.addr] } },
    {
      ...ev,
      src: { addr: [...ev.src.addr] },
      dst: { addr: [...ev.dst.addr] },
    },
  )
  t.is(buf.readUInt16LE(abi.LatchEventLayout.fields.sport.offset), 40000, 'host (little-endian) order')
})

test('an encoder refuses arrays longer than the C array', (t) => {
  const addrs = Array.from({ length: abi.LatchLimits.LATCH_MAX_ENDPOINT_ADDRS + 1 }, () => ({
    addr: new Uint8Array(16),
  }))
  const err = t.throws(() => abi.encodeLatchEndpointValue({ identity: 1, nAddrs: addrs.length, addrs }))
  t.is((err as { code?: string }).code, 'LATCH_ERR_BPF_BAD_ARGUMENT')
})

test('a decoder refuses a buffer too short for the struct', (t) => {
  const err = t.throws(() => abi.decodeLatchEvent(Buffer.alloc(10)))
  t.is((err as { code?: string }).code, 'LATCH_ERR_BPF_BAD_ARGUMENT')
})

/** `v` with every array emptied (an encoder must zero the entries it was not given). */
function withEmptyArrays(v: unknown): unknown {
  if (Array.isArray(v)) return []
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withEmptyArrays(x)]))
}

test('every encoder writes each byte of its struct, padding and unused array entries included, and nothing outside it', (t) => {
  const codecs = abi as unknown as Record<string, (...a: unknown[]) => unknown>
  for (const [cName, layout] of Object.entries(abi.LAYOUTS)) {
    const T = cName.replace(/(^|_)([a-z0-9])/g, (_, _u: string, c: string) => c.toUpperCase())
    const decode = codecs[`decode${T}`] as (b: Buffer, off?: number) => unknown
    const encode = codecs[`encode${T}`] as (v: unknown, b: Buffer, off: number) => Buffer
    // the all-zero struct as a value (and the same with its arrays empty), encoded over 0xff bytes
    const zero = decode(Buffer.alloc(layout.size))
    for (const value of [zero, withEmptyArrays(zero)]) {
      const buf = Buffer.alloc(layout.size + 6, 0xff)
      encode(value, buf, 3)
      t.deepEqual(
        [...buf.subarray(3, 3 + layout.size)],
        new Array(layout.size).fill(0),
        `${cName}: every byte written`,
      )
      t.deepEqual(
        [...buf.subarray(0, 3), ...buf.subarray(3 + layout.size)],
        new Array(6).fill(0xff),
        `${cName}: only its bytes`,
      )
    }
  }
})

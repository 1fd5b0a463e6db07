/**
 * Reads the ABI of bpf/include/latch_abi.h out of BTF as `bpftool -j btf dump file bpf/abi.o` prints
 * it, into a small model (structs with byte offsets, enums) that render.ts turns into TypeScript.
 * Pure: no I/O. Only types named `latch_*` are taken; `latch_abi_types` (the anchor) is skipped.
 */
import { LatchError } from '../../base/errors.js'

export type FieldType =
  | { kind: 'uint'; size: 1 | 2 | 4 | 8 }
  | { kind: 'bytes'; length: number }
  | { kind: 'struct'; name: string }
  | { kind: 'array'; length: number; element: FieldType }

export interface FieldLayout {
  readonly name: string
  readonly offset: number
  readonly size: number
  readonly type: FieldType
}

export interface StructLayout {
  readonly name: string
  readonly size: number
  readonly fields: readonly FieldLayout[]
}

export interface EnumLayout {
  readonly name: string
  readonly values: readonly { name: string; value: number }[]
}

export interface AbiModel {
  readonly structs: readonly StructLayout[]
  readonly enums: readonly EnumLayout[]
}

interface BtfType {
  id: number
  kind: string
  name: string
  size?: number
  type_id?: number
  nr_elems?: number
  nr_bits?: number
  bits_offset?: number
  encoding?: string
  members?: { name: string; type_id: number; bits_offset: number; bitfield_size?: number }[]
  values?: { name: string; val: number }[]
}

const ANCHOR = 'latch_abi_types'

function bad(message: string): never {
  throw new LatchError('LATCH_ERR_BPF_ABI_MISMATCH', `BTF of the ABI object: ${message}`)
}

export function modelFromBtf(json: unknown): AbiModel {
  const types = (json as { types?: BtfType[] }).types
  if (!Array.isArray(types)) bad('no "types" array (expected `bpftool -j btf dump file` output)')
  const byId = new Map<number, BtfType>(types.map((t) => [t.id, t]))
  const get = (id: number): BtfType => byId.get(id) ?? bad(`type id ${id} is missing`)

  const resolve = (id: number): BtfType => {
    let t = get(id)
    while (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE') t = get(t.type_id ?? 0)
    return t
  }

  const fieldType = (id: number, where: string): { type: FieldType; size: number } => {
    const t = resolve(id)
    switch (t.kind) {
      case 'INT': {
        if (t.encoding === 'SIGNED') bad(`${where}: signed integers are not part of the ABI; use __uN`)
        const size = t.size ?? 0
        if (size !== 1 && size !== 2 && size !== 4 && size !== 8) bad(`${where}: integer of ${size} bytes`)
        return { type: { kind: 'uint', size }, size }
      }
      case 'ENUM':
        return { type: { kind: 'uint', size: 4 }, size: t.size ?? 4 }
      case 'STRUCT':
        return { type: { kind: 'struct', name: t.name }, size: t.size ?? 0 }
      case 'ARRAY': {
        const length = t.nr_elems ?? 0
        const el = fieldType(t.type_id ?? 0, `${where}[]`)
        if (el.type.kind === 'uint' && el.type.size === 1)
          return { type: { kind: 'bytes', length }, size: length }
        return { type: { kind: 'array', length, element: el.type }, size: length * el.size }
      }
      default:
        return bad(`${where}: unsupported BTF kind ${t.kind}`)
    }
  }

  const structs: StructLayout[] = []
  const enums: EnumLayout[] = []
  for (const t of types) {
    if (!t.name.startsWith('latch_') || t.name === ANCHOR) continue
    if (t.kind === 'STRUCT') {
      const fields = (t.members ?? []).map((m): FieldLayout => {
        const where = `${t.name}.${m.name}`
        if (m.bitfield_size || m.bits_offset % 8 !== 0) bad(`${where}: bit fields are not part of the ABI`)
        const { type, size } = fieldType(m.type_id, where)
        return { name: m.name, offset: m.bits_offset / 8, size, type }
      })
      structs.push({ name: t.name, size: t.size ?? 0, fields })
    } else if (t.kind === 'ENUM') {
      enums.push({ name: t.name, values: (t.values ?? []).map((v) => ({ name: v.name, value: v.val })) })
    }
  }
  if (structs.length === 0) bad('no latch_* structs found')
  return { structs, enums }
}

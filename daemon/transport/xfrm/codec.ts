/**
 * XFRM netlink messages (linux/xfrm.h) as bytes: the structs and attributes latch's IPsec backend
 * sends and reads. Pure; `port.ts` puts them on a NETLINK_XFRM socket. Layouts are x86-64/aarch64
 * (natural alignment, little-endian host order; SPIs and ports big-endian as on the wire).
 */
import { isIPv4 } from 'node:net'
import { addressBytes, bytesToAddress } from '../addr.js'

export const XFRM_MSG = {
  NEWSA: 0x10,
  DELSA: 0x11,
  GETSA: 0x12,
  NEWPOLICY: 0x13,
  DELPOLICY: 0x14,
  GETPOLICY: 0x15,
  UPDPOLICY: 0x19,
} as const

export const XFRMA = { TMPL: 5, REPLAY_VAL: 10, ALG_AEAD: 18, MARK: 21, IF_ID: 31 } as const
export const IPPROTO_ESP = 50
export const XFRM_MODE_TUNNEL = 1
export const XFRM_POLICY = { IN: 0, OUT: 1, FWD: 2 } as const
export type PolicyDir = 'in' | 'out' | 'fwd'
export const AF_INET = 2
export const AF_INET6 = 10
/** The AEAD latch uses: AES-GCM with a 128-bit ICV (RFC 4106); key = 16 bytes of AES key + 4 of salt. */
export const AEAD_NAME = 'rfc4106(gcm(aes))'
export const AEAD_ICV_BITS = 128
/** The legacy (non-ESN) anti-replay bitmap: 32 packets, the most it holds. */
export const REPLAY_WINDOW = 32

const SELECTOR = 56
const USERSA_INFO = 224
const USERSA_ID = 24
const USERPOLICY_INFO = 168
const USERPOLICY_ID = 64
const USER_TMPL = 64
const LIFETIME_CFG = 64
const XFRM_INF = 0xffff_ffff_ffff_ffffn

/** A traffic selector: source and destination prefixes (all protocols, all ports). */
export interface Selector {
  src: string
  dst: string
}

/** One ESP SA in tunnel mode between two underlay addresses. */
export interface EspSa {
  /** Outer source and destination (underlay) addresses. */
  src: string
  dst: string
  spi: number
  reqid: number
  /** 20 bytes: AES-128 key + 4-byte salt. */
  key: Buffer
  /** The xfrm interface the SA belongs to. */
  ifId: number
}

/** One policy: traffic matching `sel` in `dir` must use ESP tunnel `tmplSrc` → `tmplDst` (reqid). */
export interface EspPolicy {
  dir: PolicyDir
  sel: Selector
  tmplSrc: string
  tmplDst: string
  reqid: number
  ifId: number
  priority: number
}

/** An SA as the kernel lists it (no key material is kept). */
export interface SaInfo {
  src: string
  dst: string
  spi: number
  reqid: number
  ifId: number
  replayWindow: number
  /** Bytes the SA carried so far (its current lifetime). */
  bytes: number
}

export interface PolicyInfo {
  dir: PolicyDir
  sel: Selector
  ifId: number
  priority: number
  /** The first template's tunnel ends and reqid (undefined without a template). */
  tmplSrc?: string
  tmplDst?: string
  reqid?: number
}

function family(addr: string): number {
  return isIPv4(addr) ? AF_INET : AF_INET6
}

function addr16(addr: string): Buffer {
  const out = Buffer.alloc(16)
  addressBytes(addr).copy(out)
  return out
}

function splitPrefix(cidr: string): [string, number] {
  const [a, l] = cidr.split('/') as [string, string | undefined]
  return [a, l === undefined ? (isIPv4(a) ? 32 : 128) : Number(l)]
}

function writeSelector(buf: Buffer, off: number, sel: Selector): void {
  const [d, dl] = splitPrefix(sel.dst)
  const [s, sl] = splitPrefix(sel.src)
  addr16(d).copy(buf, off)
  addr16(s).copy(buf, off + 16)
  buf.writeUInt16LE(family(d), off + 40)
  buf.writeUInt8(dl, off + 42)
  buf.writeUInt8(sl, off + 43)
}

function readSelector(buf: Buffer, off: number): Selector {
  const fam = buf.readUInt16LE(off + 40)
  const len = fam === AF_INET ? 4 : 16
  const d = bytesToAddress(buf.subarray(off, off + len))
  const s = bytesToAddress(buf.subarray(off + 16, off + 16 + len))
  return { dst: `${d}/${buf.readUInt8(off + 42)}`, src: `${s}/${buf.readUInt8(off + 43)}` }
}

/**
 * An xfrm_lifetime_cfg with no limit: its byte and packet limits (the first four u64) are XFRM_INF,
 * its four expiry times (the last four) stay 0 = none. An XFRM_INF expiry would not mean "never": the
 * kernel adds it to the creation time as a signed number (-1), and its timer expires the SA or
 * policy about a second after it was added (iproute2 fills the same four fields only).
 */
function writeInfiniteLifetime(buf: Buffer, off: number): void {
  for (let i = 0; i < 4; i++) buf.writeBigUInt64LE(XFRM_INF, off + i * 8)
}

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length
  const out = Buffer.alloc((len + 3) & ~3)
  out.writeUInt16LE(len, 0)
  out.writeUInt16LE(type, 2)
  payload.copy(out, 4)
  return out
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

/** Attributes after a fixed struct, by type (the first of each). */
export function parseAttrs(buf: Buffer, off: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>()
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off)
    const type = buf.readUInt16LE(off + 2) & 0x3fff
    if (len < 4 || off + len > buf.length) break
    if (!out.has(type)) out.set(type, buf.subarray(off + 4, off + len))
    off += (len + 3) & ~3
  }
  return out
}

/** XFRM_MSG_NEWSA payload: xfrm_usersa_info + XFRMA_ALG_AEAD + XFRMA_IF_ID. */
export function encodeNewSa(sa: EspSa): Buffer {
  const b = Buffer.alloc(USERSA_INFO)
  // the SA's own selector stays empty (family only): the policies decide what enters it
  b.writeUInt16LE(family(sa.dst), 40)
  addr16(sa.dst).copy(b, 56)
  b.writeUInt32BE(sa.spi >>> 0, 72)
  b.writeUInt8(IPPROTO_ESP, 76)
  addr16(sa.src).copy(b, 80)
  writeInfiniteLifetime(b, 96)
  b.writeUInt32LE(sa.reqid >>> 0, 208)
  b.writeUInt16LE(family(sa.dst), 212)
  b.writeUInt8(XFRM_MODE_TUNNEL, 214)
  b.writeUInt8(REPLAY_WINDOW, 215)
  if (sa.key.length !== 20) throw new Error(`an rfc4106 AES-128 key is 20 bytes, got ${sa.key.length}`)
  const aead = Buffer.alloc(72 + sa.key.length)
  aead.write(AEAD_NAME, 0, 'latin1')
  aead.writeUInt32LE(sa.key.length * 8, 64)
  aead.writeUInt32LE(AEAD_ICV_BITS, 68)
  sa.key.copy(aead, 72)
  return Buffer.concat([b, attr(XFRMA.ALG_AEAD, aead), attr(XFRMA.IF_ID, u32(sa.ifId))])
}

/** XFRM_MSG_DELSA payload: xfrm_usersa_id (+ the source address, as the kernel wants for a unique match). */
export function encodeDelSa(sa: { src: string; dst: string; spi: number }): Buffer {
  const b = Buffer.alloc(USERSA_ID)
  addr16(sa.dst).copy(b, 0)
  b.writeUInt32BE(sa.spi >>> 0, 16)
  b.writeUInt16LE(family(sa.dst), 20)
  b.writeUInt8(IPPROTO_ESP, 22)
  // XFRMA_SRCADDR = 13
  return Buffer.concat([b, attr(13, addr16(sa.src))])
}

/** One xfrm_usersa_info from a GETSA dump, or undefined for an SA that is not ESP. */
export function decodeSa(buf: Buffer): SaInfo | undefined {
  if (buf.length < USERSA_INFO) return undefined
  if (buf.readUInt8(76) !== IPPROTO_ESP) return undefined
  const fam = buf.readUInt16LE(212)
  const len = fam === AF_INET ? 4 : 16
  const attrs = parseAttrs(buf, USERSA_INFO)
  const ifId = attrs.get(XFRMA.IF_ID)
  return {
    dst: bytesToAddress(buf.subarray(56, 56 + len)),
    src: bytesToAddress(buf.subarray(80, 80 + len)),
    spi: buf.readUInt32BE(72),
    reqid: buf.readUInt32LE(208),
    replayWindow: buf.readUInt8(215),
    bytes: Number(buf.readBigUInt64LE(160)),
    ifId: ifId === undefined || ifId.length < 4 ? 0 : ifId.readUInt32LE(0),
  }
}

function dirNumber(dir: PolicyDir): number {
  return dir === 'in' ? XFRM_POLICY.IN : dir === 'out' ? XFRM_POLICY.OUT : XFRM_POLICY.FWD
}

function dirName(n: number): PolicyDir | undefined {
  return n === XFRM_POLICY.IN
    ? 'in'
    : n === XFRM_POLICY.OUT
      ? 'out'
      : n === XFRM_POLICY.FWD
        ? 'fwd'
        : undefined
}

/** XFRM_MSG_NEWPOLICY / UPDPOLICY payload: xfrm_userpolicy_info + XFRMA_TMPL + XFRMA_IF_ID. */
export function encodePolicy(p: EspPolicy): Buffer {
  const b = Buffer.alloc(USERPOLICY_INFO)
  writeSelector(b, 0, p.sel)
  writeInfiniteLifetime(b, SELECTOR)
  b.writeUInt32LE(p.priority >>> 0, SELECTOR + LIFETIME_CFG + 32)
  b.writeUInt8(dirNumber(p.dir), 160)
  // action 0 = allow, flags 0, share 0
  const t = Buffer.alloc(USER_TMPL)
  addr16(p.tmplDst).copy(t, 0)
  t.writeUInt8(IPPROTO_ESP, 20)
  t.writeUInt16LE(family(p.tmplDst), 24)
  addr16(p.tmplSrc).copy(t, 28)
  t.writeUInt32LE(p.reqid >>> 0, 44)
  t.writeUInt8(XFRM_MODE_TUNNEL, 48)
  t.writeUInt32LE(0xffff_ffff, 52)
  t.writeUInt32LE(0xffff_ffff, 56)
  t.writeUInt32LE(0xffff_ffff, 60)
  return Buffer.concat([b, attr(XFRMA.TMPL, t), attr(XFRMA.IF_ID, u32(p.ifId))])
}

/** XFRM_MSG_DELPOLICY payload: xfrm_userpolicy_id (by selector and direction) + XFRMA_IF_ID. */
export function encodeDelPolicy(p: { dir: PolicyDir; sel: Selector; ifId: number }): Buffer {
  const b = Buffer.alloc(USERPOLICY_ID)
  writeSelector(b, 0, p.sel)
  b.writeUInt8(dirNumber(p.dir), 60)
  return Buffer.concat([b, attr(XFRMA.IF_ID, u32(p.ifId))])
}

/** One xfrm_userpolicy_info from a GETPOLICY dump (socket policies and unknown directions skipped). */
export function decodePolicy(buf: Buffer): PolicyInfo | undefined {
  if (buf.length < USERPOLICY_INFO) return undefined
  const dir = dirName(buf.readUInt8(160))
  if (dir === undefined) return undefined
  const attrs = parseAttrs(buf, USERPOLICY_INFO)
  const ifId = attrs.get(XFRMA.IF_ID)
  const t = attrs.get(XFRMA.TMPL)
  const out: PolicyInfo = {
    dir,
    sel: readSelector(buf, 0),
    priority: buf.readUInt32LE(SELECTOR + LIFETIME_CFG + 32),
    ifId: ifId === undefined || ifId.length < 4 ? 0 : ifId.readUInt32LE(0),
  }
  if (t !== undefined && t.length >= USER_TMPL) {
    const len = t.readUInt16LE(24) === AF_INET ? 4 : 16
    out.tmplDst = bytesToAddress(t.subarray(0, len))
    out.tmplSrc = bytesToAddress(t.subarray(28, 28 + len))
    out.reqid = t.readUInt32LE(44)
  }
  return out
}

/**
 * Read and compile a policy file. "No file" (LATCH_ERR_POLICY_MISSING), "cannot read it"
 * (LATCH_ERR_POLICY_UNREADABLE) and "it is invalid" (LATCH_ERR_POLICY_INVALID) are different errors.
 */
import { readFile, stat } from 'node:fs/promises'
import { LatchError } from '../base/errors.js'
import { compilePolicy } from './compile.js'
import type { CompiledPolicy } from './compiled.js'

/** Policy files larger than this are refused rather than read into memory. */
export const MAX_POLICY_BYTES = 32 * 1024 * 1024

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The file's text; throws LATCH_ERR_POLICY_MISSING / _UNREADABLE. Follows symlinks. */
export async function readPolicyText(file: string): Promise<string> {
  let bytes: Buffer
  try {
    const st = await stat(file)
    if (!st.isFile()) {
      throw new LatchError('LATCH_ERR_POLICY_UNREADABLE', `${file} is not a regular file`, {
        details: { file },
      })
    }
    if (st.size > MAX_POLICY_BYTES) {
      throw new LatchError(
        'LATCH_ERR_POLICY_UNREADABLE',
        `${file} is ${st.size} bytes; policy files are at most ${MAX_POLICY_BYTES} bytes`,
        { details: { file, size: st.size } },
      )
    }
    bytes = await readFile(file)
  } catch (err) {
    if (err instanceof LatchError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new LatchError('LATCH_ERR_POLICY_MISSING', `policy file ${file} does not exist`, {
        cause: err,
        details: { file },
      })
    }
    throw new LatchError(
      'LATCH_ERR_POLICY_UNREADABLE',
      `cannot read policy file ${file}: ${code ?? String(err)}`,
      {
        cause: err,
        details: { file, errno: code },
      },
    )
  }
  try {
    return utf8.decode(bytes)
  } catch (err) {
    throw new LatchError('LATCH_ERR_POLICY_UNREADABLE', `${file} is not valid UTF-8 text`, {
      cause: err,
      details: { file },
    })
  }
}

export async function loadPolicyFile(file: string): Promise<CompiledPolicy> {
  return compilePolicy(await readPolicyText(file), { file })
}

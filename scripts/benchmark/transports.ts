/**
 * The latch transports one benchmark run compares side by side (`--wg-go SPEC`, repeatable): each
 * a wireguard-go build, with its TUN offloads on (default) or off (`SPEC` = `PATH` or
 * `PATH:no-offloads`). Without --wg-go, one: the wireguard-go on PATH, offloads on. What each
 * variant really ran with (version, the TUN's offload features in the node) is read back and
 * recorded, so a figure is never attributed to a build that was not the one running.
 */
import { execa } from 'execa'
import { LatchError } from '../../daemon/base/errors.js'
import { type LabPlan, WG_INTERFACE } from '../../daemon/lab/plan.js'
import { runIn } from './procs.js'

export interface LatchVariant {
  /** Column / setup name: `latch` for a single default variant, else `latch <version>[ no-offloads]`. */
  name: string
  wireguardGo: string
  offloads: boolean
  /** `wireguard-go --version`, first line. */
  version: string
}

export interface TunOffloads {
  node: string
  /** ethtool -k of the WireGuard TUN: the features that decide whether wireguard-go gets 64 KiB segments. */
  features: Record<string, string>
}

const FEATURES = [
  'tx-checksumming',
  'tcp-segmentation-offload',
  'tx-udp-segmentation',
  'generic-segmentation-offload',
  'generic-receive-offload',
]

async function versionOf(binary: string): Promise<string> {
  const r = await execa(binary, ['--version'], { reject: false })
  const line = String(r.stdout).split('\n')[0]?.trim() ?? ''
  if (r.exitCode !== 0 || !line) {
    throw new LatchError(
      'LATCH_ERR_BENCH_TOOL_FAILED',
      `${binary} --version failed: ${r.stderr || r.message}`,
      {
        details: { binary },
      },
    )
  }
  return line.replace(/^wireguard-go\s+/, '')
}

export async function latchVariants(specs: string[]): Promise<LatchVariant[]> {
  const list = specs.length > 0 ? specs : ['wireguard-go']
  const out: LatchVariant[] = []
  for (const spec of list) {
    const [wireguardGo = '', flag] = spec.split(':')
    if (!wireguardGo || (flag !== undefined && flag !== 'no-offloads')) {
      throw new LatchError(
        'LATCH_ERR_USAGE_BAD_ARGUMENT',
        `--wg-go takes PATH or PATH:no-offloads, got ${JSON.stringify(spec)}`,
      )
    }
    const offloads = flag === undefined
    const version = await versionOf(wireguardGo)
    out.push({ name: '', wireguardGo, offloads, version })
  }
  const single = out.length === 1 && out[0]!.offloads
  for (const v of out) v.name = single ? 'latch' : `latch ${v.version}${v.offloads ? '' : ' no-offloads'}`
  const names = out.map((v) => v.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup) {
    throw new LatchError('LATCH_ERR_USAGE_BAD_ARGUMENT', `--wg-go: two variants are both "${dup}"`)
  }
  return out
}

export async function tunOffloads(plan: LabPlan): Promise<TunOffloads[]> {
  const out: TunOffloads[] = []
  for (const node of plan.nodes) {
    const text = await runIn(plan, node.name, ['ethtool', '-k', WG_INTERFACE]).catch(
      (err: Error) => `error: ${err.message}`,
    )
    const features: Record<string, string> = {}
    for (const line of text.split('\n')) {
      const m = /^([a-z-]+):\s+(\S+(?: \[fixed\])?)/.exec(line.trim())
      if (m && FEATURES.includes(m[1]!)) features[m[1]!] = m[2]!
    }
    out.push({ node: node.name, features })
  }
  return out
}

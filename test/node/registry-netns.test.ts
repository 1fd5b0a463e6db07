/**
 * Runtime attach/detach of workloads on the real datapath: the real WorkloadRegistry on the real
 * NodeDatapath (registry-netns-host.ts, in a node namespace of its own), workloads registered as
 * latch-cni registers them (network namespace path + interface, owner `cni:<container>:eth0`):
 *
 *   c1 (10.201.1.11) --veth-- [lc1]  n (node: registry, programs on lc1/lc2)  [lc2] --veth-- c2 (10.201.1.12)
 *
 * Every assertion reads the kernel: the tc filters on the host-side veth (`tc filter show`, the
 * program ids of the pins) and the pinned endpoints and ipcache maps (this process opens the pins:
 * bpffs is not per netns). ADD attaches and writes the entries; the same ADD again changes nothing;
 * DEL by owner detaches and deletes them; a DEL of a container nobody registered answers
 * `removed: false` (latch-cni's DEL then succeeds, CNI spec). Root only (skipped, and reported as
 * such, otherwise); namespaces latch-rn<pid>-* and the pins are removed afterwards, failed or not.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import test from 'ava'
import { execa, type ResultPromise } from 'execa'
import { Datapath } from '../../daemon/datapath/index.js'
import type { WorkloadReport } from '../../daemon/wire/workload.js'
import { testPinDir } from '../bpf/fixture.js'
import { deleteNs } from '../engine/helpers/netns.js'

const isRoot = process.getuid?.() === 0
const rootTest = isRoot ? test.serial : test.serial.skip
const P = `latch-rn${process.pid % 100000}`
const NS = { n: `${P}-n`, c1: `${P}-c1`, c2: `${P}-c2` }
const PIN = testPinDir('registry-netns')
const CIDR = '10.201.1.0/24'
const C1 = { id: 'spiffe://rn.latch/ns/rn/sa/c1', ip: '10.201.1.11', host: 'lc1', owner: 'cni:c1:eth0' }
const C2 = { id: 'spiffe://rn.latch/ns/rn/sa/c2', ip: '10.201.1.12', host: 'lc2', owner: 'cni:c2:eth0' }

let dir: string | undefined
let host: RegistryHost | undefined
let dp: Datapath | undefined

const ip = (...args: string[]) => execa('ip', args)

/** The registry process in the node namespace, one JSON line per request and answer. */
class RegistryHost {
  readonly proc: ResultPromise
  readonly #waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = []
  stderr = ''
  constructor(d: string) {
    this.proc = execa(
      'nsenter',
      [
        `--net=/run/netns/${NS.n}`,
        process.execPath,
        '--import=tsx',
        'test/node/registry-netns-host.ts',
        d,
        PIN,
        CIDR,
      ],
      { cwd: join(import.meta.dirname, '..', '..'), stdin: 'pipe', reject: false, buffer: false },
    )
    this.proc.stderr?.on('data', (b: Buffer) => {
      this.stderr += String(b)
    })
    createInterface({ input: this.proc.stdout! }).on('line', (l) => this.#waiting.shift()?.resolve(l))
    this.proc.once('exit', () => {
      for (const w of this.#waiting.splice(0)) w.reject(new Error(`registry host exited: ${this.stderr}`))
    })
  }
  async call<T>(op: string, body: Record<string, unknown> = {}): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const line = await new Promise<string>((resolve, reject) => {
      this.#waiting.push({ resolve, reject })
      timer = setTimeout(() => reject(new Error(`no answer to ${op} in 30 s: ${this.stderr}`)), 30_000)
      this.proc.stdin?.write(`${JSON.stringify({ op, ...body })}\n`)
    }).finally(() => clearTimeout(timer))
    const r = JSON.parse(line) as { ok: boolean; value: T; code?: string; message?: string }
    if (!r.ok) throw Object.assign(new Error(`${r.code}: ${r.message}`), { code: r.code })
    return r.value
  }
  async close(): Promise<void> {
    this.proc.stdin?.end()
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000)
    await this.proc
    clearTimeout(t)
  }
}

async function cleanup(): Promise<void> {
  dp?.close()
  dp = undefined
  if (host) await host.close().catch(() => undefined)
  host = undefined
  for (const ns of Object.values(NS)) await deleteNs(ns)
  Datapath.unpin(PIN)
  if (dir) await rm(dir, { recursive: true, force: true })
}

async function ifindexIn(ns: string, name: string): Promise<number> {
  const r = await ip('-n', ns, '-j', 'link', 'show', name)
  return (JSON.parse(r.stdout) as { ifindex: number }[])[0]!.ifindex
}

/** The ids of the BPF programs tc runs on the node's `dev` in `dir` (kernel state, not bookkeeping). */
async function tcProgIds(dev: string, direction: 'ingress' | 'egress'): Promise<number[]> {
  const r = await ip('netns', 'exec', NS.n, 'tc', 'filter', 'show', 'dev', dev, direction)
  return [...r.stdout.matchAll(/\bbpf\b.*?\bid (\d+)/g)].map((m) => Number(m[1]))
}

function progId(name: string): number {
  const p = dp!.programs.find((x) => x.name === name)
  if (!p) throw new Error(`no pinned program ${name}`)
  return p.id
}

async function kernelState(c: typeof C1) {
  const ifindex = await ifindexIn(NS.n, c.host)
  return {
    ifindex,
    ingress: await tcProgIds(c.host, 'ingress'),
    egress: await tcProgIds(c.host, 'egress'),
    endpoint: dp!.endpoints.get(ifindex),
    ipcache: dp!.ipcache.lookup(c.ip),
  }
}

const add = (c: typeof C1) =>
  host!.call<WorkloadReport>('add', {
    id: c.id,
    ips: [c.ip],
    netns: `/run/netns/${c === C1 ? NS.c1 : NS.c2}`,
    netnsInterface: 'eth0',
    owner: c.owner,
  })

test.before(async () => {
  if (!isRoot) return
  await cleanup()
  dir = await mkdtemp(join(tmpdir(), 'latch-rn-'))
  for (const ns of Object.values(NS)) await ip('netns', 'add', ns)
  for (const [c, ns] of [
    [C1, NS.c1],
    [C2, NS.c2],
  ] as const) {
    await ip('link', 'add', 'latchrntmp0', 'type', 'veth', 'peer', 'name', 'latchrntmp1')
    await ip('link', 'set', 'latchrntmp0', 'netns', ns, 'name', 'eth0')
    await ip('link', 'set', 'latchrntmp1', 'netns', NS.n, 'name', c.host)
    await ip('-n', ns, 'addr', 'add', `${c.ip}/32`, 'dev', 'eth0')
    await ip('-n', ns, 'link', 'set', 'eth0', 'up')
    await ip('-n', NS.n, 'link', 'set', c.host, 'up')
  }
  Datapath.unpin(PIN)
  host = new RegistryHost(dir)
  // the host is up (datapath loaded, registry bound) once it answers
  t0list = await host.call<WorkloadReport[]>('list')
  dp = Datapath.openPinned({ pinDir: PIN })
})
let t0list: WorkloadReport[] = []
/** C1's identity id at its first ADD (ids stay allocated: a re-ADD gets the same one back). */
let c1Identity: number | undefined

test.after.always(async () => {
  if (!isRoot) return
  await cleanup()
})

rootTest('before any ADD: no workload, no filter on the veths, no entries', async (t) => {
  t.deepEqual(t0list, [])
  for (const c of [C1, C2]) {
    const k = await kernelState(c)
    t.deepEqual(k.ingress, [])
    t.deepEqual(k.egress, [])
    t.is(k.endpoint, null)
    t.is(k.ipcache, null)
  }
})

rootTest(
  'ADD at runtime: the programs go on the host-side veth, the endpoint and ipcache entries are written',
  async (t) => {
    const r = await add(C1)
    t.is(r.interface, C1.host)
    t.is(r.attached, true)
    const k = await kernelState(C1)
    t.deepEqual(k.ingress, [progId('from_workload')])
    t.deepEqual(k.egress, [progId('to_workload')])
    t.truthy(k.endpoint)
    t.deepEqual(k.endpoint!.addrs, [C1.ip])
    t.truthy(k.ipcache)
    t.is(k.ipcache!.identity, k.endpoint!.identity)
    t.is(k.ipcache!.ifindex, k.ifindex)
    t.is(k.ipcache!.scope, 'local')
    c1Identity = k.ipcache!.identity
    // the other veth is untouched
    const other = await kernelState(C2)
    t.deepEqual(other.ingress, [])
    t.is(other.ipcache, null)
  },
)

rootTest('the same ADD again is idempotent: same answer, same filters, same entries', async (t) => {
  const before = await kernelState(C1)
  const again = await add(C1)
  t.is(again.attached, true)
  t.is(again.interface, C1.host)
  t.deepEqual(await kernelState(C1), before)
  const list = await host!.call<WorkloadReport[]>('list')
  t.deepEqual(
    list.map((w) => w.id),
    [C1.id],
  )
})

rootTest('a second workload gets its own identity; DEL of the first leaves it alone', async (t) => {
  await add(C2)
  const k1 = await kernelState(C1)
  const k2 = await kernelState(C2)
  t.deepEqual(k2.ingress, [progId('from_workload')])
  t.not(k2.ipcache!.identity, k1.ipcache!.identity)
  const del = await host!.call<{ removed: boolean }>('remove', { owner: C1.owner })
  t.true(del.removed)
  const after1 = await kernelState(C1)
  t.deepEqual(after1.ingress, [], 'from_workload still on the veth after DEL')
  t.deepEqual(after1.egress, [], 'to_workload still on the veth after DEL')
  t.is(after1.endpoint, null)
  t.is(after1.ipcache, null)
  t.deepEqual(await kernelState(C2), k2)
})

rootTest('DEL of a container nobody registered (or one already deleted) is a no-op success', async (t) => {
  const before = await kernelState(C2)
  t.deepEqual(await host!.call('remove', { owner: 'cni:never-added:eth0' }), { removed: false })
  t.deepEqual(await host!.call('remove', { owner: C1.owner }), { removed: false })
  t.deepEqual(await kernelState(C2), before)
  t.deepEqual(
    (await host!.call<WorkloadReport[]>('list')).map((w) => w.id),
    [C2.id],
  )
})

rootTest('re-ADD after DEL attaches again with the same identity id', async (t) => {
  const k2 = await kernelState(C2)
  const r = await add(C1)
  t.is(r.attached, true)
  const k = await kernelState(C1)
  t.deepEqual(k.ingress, [progId('from_workload')])
  t.deepEqual(k.egress, [progId('to_workload')])
  t.truthy(k.ipcache)
  t.is(k.ipcache!.identity, c1Identity as number)
  t.is(k.endpoint!.identity, c1Identity as number)
  t.not(k.ipcache!.identity, k2.ipcache!.identity)
  // clean up both through the registry: nothing of ours stays on the veths
  for (const c of [C1, C2])
    t.true((await host!.call<{ removed: boolean }>('remove', { owner: c.owner })).removed)
  for (const c of [C1, C2]) {
    const after = await kernelState(c)
    t.deepEqual([after.ingress, after.egress, after.endpoint, after.ipcache], [[], [], null, null])
  }
})

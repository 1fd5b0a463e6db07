import { createInterface, type Interface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { execa, type ResultPromise } from 'execa'

const repo = fileURLToPath(new URL('../../..', import.meta.url))
const hostScript = fileURLToPath(new URL('./engine-host.ts', import.meta.url))

export async function sh(cmd: string, args: string[]): Promise<string> {
  return (await execa(cmd, args)).stdout
}

export async function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args])
}

/** Run a command in `ns` with `wgDir` as its /var/run/wireguard (how `wg` finds wireguard-go there). */
export async function inNode(ns: string, wgDir: string, cmd: string, args: string[]): Promise<string> {
  const script = `mount --bind ${wgDir} /var/run/wireguard && exec "$@"`
  return sh('ip', [
    'netns',
    'exec',
    ns,
    'unshare',
    '-m',
    '--propagation',
    'private',
    'sh',
    '-c',
    script,
    'sh',
    cmd,
    ...args,
  ])
}

/** Kill every process in the namespace (all of them were started by this test), then delete it. */
export async function deleteNs(ns: string): Promise<void> {
  const pids = await execa('ip', ['netns', 'pids', ns], { reject: false })
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {}
  }
  await execa('ip', ['netns', 'del', ns], { reject: false })
}

/** A child process running one Engine in netns `ns` with `wgDir` bind-mounted on /var/run/wireguard. */
export class EngineHost {
  private readonly proc: ResultPromise
  private readonly lines: Interface
  private readonly waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = []
  stderr = ''

  constructor(ns: string, wgDir: string) {
    const script = `mkdir -p /var/run/wireguard && mount --bind ${wgDir} /var/run/wireguard && exec "${process.execPath}" --import tsx "${hostScript}"`
    this.proc = execa(
      'ip',
      ['netns', 'exec', ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script],
      {
        cwd: repo,
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        reject: false,
        buffer: false,
      },
    )
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    this.lines = createInterface({ input: this.proc.stdout! })
    this.lines.on('line', (l) => this.waiting.shift()?.resolve(l))
    this.proc.once('exit', () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`engine host exited: ${this.stderr}`))
    })
  }

  get pid(): number | undefined {
    return this.proc.pid
  }

  async call<T = unknown>(op: string, body: Record<string, unknown> = {}): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const reply = new Promise<string>((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      timer = setTimeout(
        () => reject(new Error(`engine host: no answer to ${op} within 60 s; its stderr: ${this.stderr}`)),
        60_000,
      )
    }).finally(() => clearTimeout(timer))
    this.proc.stdin?.write(`${JSON.stringify({ op, ...body })}\n`)
    const r = JSON.parse(await reply) as { ok: boolean; value?: T; code?: string; message?: string }
    if (!r.ok) throw Object.assign(new Error(`${r.code}: ${r.message}`), { code: r.code })
    return r.value as T
  }

  /** SIGKILL the host (not wireguard-go: that is a daemon of its own, as in production). */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL')
    await this.proc
  }

  async close(): Promise<void> {
    this.proc.stdin?.end()
    await this.proc
  }
}

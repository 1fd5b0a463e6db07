/**
 * One real etcd member on 127.0.0.1 for discovery tests: its own PKI (certs/etcd-pki.ts) and data dir
 * in a temp dir, free ports, the same command line the lab uses. Stopped by PID; `start()` again
 * reuses the data dir (optionally on another client port, to keep watchers away while it runs).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Etcd3 } from 'etcd3'
import { ensureEtcdPki, etcdPkiPaths } from '../../../certs/etcd-pki.js'
import { type EtcdMember, etcdArgs } from '../../../daemon/lab/etcd-plan.js'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0))
    })
  })
}

export class LocalEtcd {
  #child: ChildProcess | undefined
  member: EtcdMember

  private constructor(
    readonly dir: string,
    member: EtcdMember,
  ) {
    this.member = member
  }

  static async create(clients: string[]): Promise<LocalEtcd> {
    const dir = await mkdtemp(join(tmpdir(), 'latch-etcd-test-'))
    const member: EtcdMember = {
      name: 'etcd1',
      ip: '127.0.0.1',
      clientPort: await freePort(),
      peerPort: await freePort(),
      dataDir: join(dir, 'etcd1'),
      logFile: join(dir, 'etcd1.log'),
    }
    await ensureEtcdPki({ dir: join(dir, 'pki'), members: [member], clients: [...clients, 'admin'] })
    return new LocalEtcd(dir, member)
  }

  get endpoint(): string {
    return `https://127.0.0.1:${this.member.clientPort}`
  }

  tls(client: string): { caFile: string; certFile: string; keyFile: string } {
    const p = etcdPkiPaths(join(this.dir, 'pki'))
    return { caFile: p.caCert, certFile: p.client(client).cert, keyFile: p.client(client).key }
  }

  /** An etcd3 client as `admin` (tests write, delete and compact with it). */
  async admin(endpoint = this.endpoint): Promise<Etcd3> {
    const { readFile } = await import('node:fs/promises')
    const t = this.tls('admin')
    return new Etcd3({
      hosts: endpoint,
      credentials: {
        rootCertificate: await readFile(t.caFile),
        certChain: await readFile(t.certFile),
        privateKey: await readFile(t.keyFile),
      },
    })
  }

  async start(clientPort = this.member.clientPort): Promise<void> {
    this.member = { ...this.member, clientPort }
    const log = await open(this.member.logFile, 'a')
    this.#child = spawn('etcd', etcdArgs(this.member, [this.member], join(this.dir, 'pki')), {
      stdio: ['ignore', log.fd, log.fd],
    })
    await log.close()
    const client = await this.admin()
    try {
      for (let i = 0; ; i++) {
        try {
          await client.get('/probe').string()
          return
        } catch (err) {
          if (i > 100) throw err
          await sleep(100)
        }
      }
    } finally {
      client.close()
    }
  }

  async kill(): Promise<void> {
    const c = this.#child
    this.#child = undefined
    if (!c || c.exitCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await gone
  }

  async destroy(): Promise<void> {
    await this.kill()
    await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * podman (and buildah) with everything private to one test's directory: containers.conf and
 * storage.conf by environment, storage (vfs), run root, tmpdir, volumes, events and runc state
 * below the directory. File locks instead of podman's default shared-memory locks: those live in
 * one machine-wide segment (/dev/shm/libpod_lock) and stay held when a podman dies holding one,
 * after which every podman needing that lock number waits for ever (seen here: `podman kube play`
 * hung until the test's timeout after an earlier run was killed). A file lock goes with its process.
 *
 * This machine's sandbox also needs: podman's default nofile/nproc limits exceed what it may set
 * (no CAP_SYS_RESOURCE; nproc at its hard limit is refused too), and crun refuses its hybrid cgroup
 * layout while Debian's runc accepts it. Neither changes what a test checks.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'

export interface PodmanResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  readonly all: string
  readonly timedOut: boolean
}

export interface PrivatePodman {
  /** CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, for podman, buildah and scripts that run them. */
  readonly env: Record<string, string>
  /** podman with the private global flags, then `args` (for nsenter … or a direct execa). */
  argv(args: readonly string[]): string[]
  /** Runs podman; throws with its output on a non-zero exit unless reject is false. */
  run(
    args: readonly string[],
    o?: { input?: Uint8Array; reject?: boolean; nsenter?: readonly string[]; timeout?: number },
  ): Promise<PodmanResult>
  /** Removes every container, pod, image and volume, podman's mounts below the dir, the dir. */
  destroy(): Promise<void>
}

/** `containersConf` lines are appended to containers.conf (sections of their own, e.g. [network]). */
export async function privatePodman(
  dir: string,
  containersConf: readonly string[] = [],
): Promise<PrivatePodman> {
  await mkdir(dir, { recursive: true })
  const nofile = (await execa('bash', ['-c', 'ulimit -Hn'])).stdout.trim()
  const conf = join(dir, 'containers.conf')
  const storageConf = join(dir, 'storage.conf')
  await writeFile(
    conf,
    [
      '[containers]',
      `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]`,
      '[engine]',
      'runtime = "runc"',
      'lock_type = "file"',
      'events_logger = "file"',
      `tmp_dir = "${join(dir, 'tmp')}"`,
      `volume_path = "${join(dir, 'volumes')}"`,
      ...containersConf,
      '',
    ].join('\n'),
  )
  await writeFile(
    storageConf,
    `[storage]\ndriver = "vfs"\nrunroot = "${join(dir, 'runroot')}"\ngraphroot = "${join(dir, 'storage')}"\n`,
  )
  const env = { CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storageConf }
  const argv = (args: readonly string[]) => [
    'podman',
    '--root',
    join(dir, 'storage'),
    '--runroot',
    join(dir, 'runroot'),
    '--tmpdir',
    join(dir, 'tmp'),
    '--storage-driver',
    'vfs',
    '--events-backend',
    'file',
    '--runtime-flag',
    `root=${join(dir, 'runc')}`,
    ...args,
  ]
  const run: PrivatePodman['run'] = async (args, o = {}) => {
    const cmd = [...(o.nsenter ? ['nsenter', ...o.nsenter] : []), ...argv(args)]
    const r = await execa(cmd[0]!, cmd.slice(1), {
      reject: false,
      all: true,
      env,
      ...(o.timeout ? { timeout: o.timeout } : {}),
      ...(o.input === undefined ? { stdin: 'ignore' as const } : { input: o.input }),
    })
    if (o.reject !== false && r.exitCode !== 0) {
      const why = r.timedOut ? `did not finish within ${o.timeout} ms` : `exit ${r.exitCode}`
      throw new Error(`podman ${args.join(' ')} (${why}):\n${r.all}`)
    }
    return {
      exitCode: r.exitCode ?? -1,
      stdout: String(r.stdout),
      stderr: String(r.stderr),
      all: String(r.all ?? ''),
      timedOut: r.timedOut,
    }
  }
  return {
    env,
    argv,
    run,
    async destroy() {
      await run(['pod', 'rm', '-f', '-a'], { reject: false })
      await run(['rm', '-f', '-a'], { reject: false })
      await run(['system', 'reset', '--force'], { reject: false })
      // podman's own mounts below the dir (shm, the netns bind, vfs layers), if a crash left any
      const mounts = (await execa('findmnt', ['-rn', '-o', 'TARGET'], { reject: false })).stdout
        .split('\n')
        .filter((m) => m.startsWith(`${dir}/`))
        .reverse()
      for (const m of mounts) await execa('umount', ['-l', m], { reject: false })
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/**
 * latch-cni under a real container runtime (issue 13's Must show): podman 4.3 (Debian) with its CNI
 * network backend runs a container from a root filesystem built here (busybox-static into a
 * directory, `podman import`: no registry is needed) on a network whose conflist chains Debian's
 * ptp + host-local and latch-cni against node2's latchd in the lab (enforcing). podman itself runs
 * in node2's network namespace (nsenter --net, as a runtime on that node would), so the veth's host
 * side is node2's. The container's first command is a TCP connect to node1-w1 (allowed): it must
 * succeed with no SYN retransmission in the container's namespace (nstat), since latch-cni returned
 * only when the pair was authenticated; a connect to node1-w2 (denied) gets nothing and a drop is
 * counted; `podman rm -f` runs CNI DEL and the registration, its key and its pairs are gone.
 *
 * Nothing of the machine's podman is used or changed: containers.conf (CONTAINERS_CONF), storage.conf
 * (CONTAINERS_STORAGE_CONF), the network config dir, storage (--root/--runroot, vfs), podman's tmpdir
 * and the IPAM data all live in one temp dir, removed at the end with the image, container and
 * network. Root only; the file fails (does not skip) without root or podman.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { labCniPath, labConfList } from '../../daemon/lab/cni-workloads.js'
import { netnsPath } from '../../daemon/lab/netns.js'
import { labExec, labSpawn, useLab } from './helpers/lab.js'
import { entriesOf, latchctl, moved } from './helpers/latchctl.js'
import { until } from './helpers/poll.js'
import { type PrivatePodman, privatePodman } from './helpers/private-podman.js'

const NAME = 'web'
const ID = 'spiffe://lab.latch/ns/podman/sa/web'
const IMAGE = 'localhost/latch-cni-busybox:test'
const NETWORK = 'latch-podman'

let dir = ''
let pm: PrivatePodman | undefined
/** podman with everything private to this test's temp dir, run in node2's network namespace. */
const podman = (args: string[], o: { input?: Uint8Array; reject?: boolean } = {}) =>
  pm!.run(args, { ...o, nsenter: [`--net=${netnsPath('latch-node2')}`] })

// the runtime goes before the lab: ava runs after.always hooks in order, so the container and the
// storage are removed while node2 still exists
test.after.always(async () => {
  await pm?.destroy()
  if (dir) await rm(dir, { recursive: true, force: true })
})
const lab = useLab(test, { nodes: 2, workloads: 2, enforce: true })
const { ctlJson, drops, authList, allow } = latchctl(lab)

type Listed = { id: string; ips: string[]; owner?: string; attached?: boolean; ready: boolean }

test.serial(
  'a podman container on a latch-cni network is registered, connects on its first SYN, is denied what policy denies, and is removed by rm -f',
  async (t) => {
    if (process.getuid?.() !== 0) {
      t.fail('needs root (podman, network namespaces)')
      return
    }
    t.timeout(10 * 60_000)
    dir = await mkdtemp(join(tmpdir(), 'latch-cni-podman-'))
    const w1 = lab().workload('node1-w1')
    const w2 = lab().workload('node1-w2')
    await allow([{ from: ID, to: w1.spiffeId }])
    for (const w of ['node1-w1', 'node1-w2'])
      await labSpawn(w, ['socat', 'TCP-LISTEN:5001,fork,reuseaddr', 'EXEC:/bin/cat'])

    // --- podman's private configuration (the CNI backend on this test's network dir) ------------
    pm = await privatePodman(join(dir, 'podman'), [
      '[network]',
      'network_backend = "cni"',
      `network_config_dir = "${join(dir, 'cni')}"`,
      `cni_plugin_dirs = ${JSON.stringify(labCniPath())}`,
    ])
    // the conflist: the lab's chain for node2 (ptp + host-local + latch-cni against node2's latchd)
    // with addresses .200-.220 and the identity rule for this container's name (podman passes
    // K8S_POD_NAME=<container name> in CNI_ARGS, no namespace)
    const list = labConfList(lab().node('node2'))
    const [ptp, latch] = list.plugins
    const conflist = {
      cniVersion: '1.0.0',
      name: NETWORK,
      plugins: [
        {
          ...ptp,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.100.2.0/24', rangeStart: '10.100.2.200', rangeEnd: '10.100.2.220' }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: join(dir, 'ipam'),
          },
        },
        { ...latch, identity: { rules: [{ name: NAME, spiffeId: ID }] } },
      ],
    }
    await mkdir(join(dir, 'cni'))
    await writeFile(join(dir, 'cni', `${NETWORK}.conflist`), JSON.stringify(conflist, null, 2))
    t.regex((await podman(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).stdout, /latch-podman/)

    // --- the image: busybox-static in a directory, imported ----------------------------------------
    const rootfs = join(dir, 'rootfs')
    await mkdir(join(rootfs, 'bin'), { recursive: true })
    await execa('cp', ['/bin/busybox', join(rootfs, 'bin', 'busybox')])
    await execa('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin'])
    const tar = await execa('tar', ['-C', rootfs, '-c', '.'], { encoding: 'buffer' })
    await podman(['import', '-', IMAGE], { input: tar.stdout })

    // --- run: the first thing the container does is connect to node1-w1 ------------------------------
    const veths = async () =>
      (await labExec('node2', ['ip', '-o', 'link', 'show', 'type', 'veth'])).stdout
        .split('\n')
        .map((l) => l.split(':')[1]?.trim().split('@')[0])
        .filter(Boolean)
        .sort()
    const vethsBefore = await veths()
    const dropsBefore = { node1: await drops('node1'), node2: await drops('node2') }
    const started = Date.now()
    await podman([
      'run',
      '-d',
      '--name',
      NAME,
      '--network',
      NETWORK,
      IMAGE,
      'sh',
      '-c',
      `r=$( (echo ping; sleep 1) | timeout 5 nc -w 3 ${w1.ip} 5001 2>&1); echo "first:$r"; exec sleep 600`,
    ])
    const runMs = Date.now() - started
    const first = await until(
      'the container to report its first connect',
      async () => /first:(.*)/.exec((await podman(['logs', NAME])).stdout)?.[1],
      30_000,
      200,
    )
    t.log(`podman run (ADD through ptp + host-local + latch-cni included) took ${runMs} ms`)
    t.is(first, 'ping', 'the first connect from the container was echoed by node1-w1')

    const inspect = JSON.parse((await podman(['inspect', NAME])).stdout)[0] as {
      Id: string
      NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> }
    }
    const ip = inspect.NetworkSettings.Networks[NETWORK]?.IPAddress
    const netns = inspect.NetworkSettings.SandboxKey
    const nstat = await execa('nsenter', [`--net=${netns}`, 'nstat', '-asz', 'TcpExtTCPSynRetrans'])
    t.regex(
      nstat.stdout,
      /TcpExtTCPSynRetrans\s+0\b/,
      `SYN retransmissions in the container: ${nstat.stdout}`,
    )
    // what a dropped first SYN would count (no auth entry yet, policy, tunnel); podman's netns, unlike
    // the lab's, has IPv6 on, and the link-local chatter of its eth0 is counted drop_spoofed: logged
    const FIRST_PACKET = ['no_auth', 'auth_expired', 'unknown_source', 'not_via_tunnel', 'wrong_ingress']
    for (const n of ['node1', 'node2'] as const) {
      const m = moved(dropsBefore[n], await drops(n))
      t.log(`${n}: drops moved since before podman run: ${JSON.stringify(m)}`)
      t.deepEqual(
        Object.keys(m).filter((r) => FIRST_PACKET.includes(r.replace(/^drop_/, '')) || r.includes('rule')),
        [],
        `${n} counted a drop of the kind a first packet before authentication gets`,
      )
    }

    // --- registered by latch-cni, with podman's container id as the owner -------------------------------
    const mine = (await ctlJson<Listed[]>('node2', ['workload', 'list'])).find((x) => x.id === ID)
    t.like(mine, { owner: `cni:${inspect.Id}:eth0`, attached: true, ready: true })
    t.deepEqual(mine?.ips, [ip])
    for (const n of ['node1', 'node2']) {
      const e = entriesOf(await authList(n), ID)
      t.true(
        e.some((x) => x.src === ID && x.dst === w1.spiffeId),
        `${n}: ${JSON.stringify(e)}`,
      )
    }

    // --- denied: node1-w2 -------------------------------------------------------------------------------
    const deniedBefore = { node1: await drops('node1'), node2: await drops('node2') }
    const denied = await podman(
      ['exec', NAME, 'sh', '-c', `echo x | timeout 4 nc -w 2 ${w2.ip} 5001; echo "rc:$?"`],
      { reject: false },
    )
    t.notRegex(denied.stdout, /^x$/m, `node2-podman → node1-w2 must be denied: ${denied.all}`)
    t.notRegex(denied.stdout, /rc:0/, denied.all)
    const deniedMoved = [
      moved(deniedBefore.node1, await drops('node1')),
      moved(deniedBefore.node2, await drops('node2')),
    ]
    t.log(`denied connect: ${denied.stdout.trim()}; drops moved ${JSON.stringify(deniedMoved)}`)
    t.true(
      deniedMoved.flatMap((m) => Object.values(m)).reduce((a, b) => a + b, 0) >= 1,
      'a drop was counted for the denied connect',
    )

    // --- podman rm -f: CNI DEL, the registration, its key and pairs gone -------------------------------
    const svidDir = join(lab().node('node2').dir, 'workloads')
    await podman(['rm', '-f', NAME])
    t.false(
      (await ctlJson<Listed[]>('node2', ['workload', 'list'])).some((x) => x.id === ID),
      'no registration after rm -f',
    )
    t.deepEqual(entriesOf(await authList('node2'), ID), [], 'node2 holds no entry of it')
    await until('node1 to revoke its pairs', async () => entriesOf(await authList('node1'), ID).length === 0)
    const keys = await labExec('node2', ['sh', '-c', `grep -rl "${ID}" ${svidDir} || true`])
    t.is(keys.stdout.trim(), '', 'no SVID of the container is left')
    t.false(
      (await readFile(join(lab().node('node2').dir, 'workloads.json'), 'utf8')).includes(ID),
      'workloads.json forgot it',
    )
    t.deepEqual(await veths(), vethsBefore, "the container's veth is gone from node2")
  },
)

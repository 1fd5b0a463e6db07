/**
 * The latch OCI image and the DaemonSet's pod spec under podman (issue 15's Must show): builds the
 * image from the .deb (scripts/package-image), turns packaging/k8s/latch.yaml's DaemonSet template
 * into a Pod (same container, capabilities, mounts and probes; only the ConfigMap's node key, the
 * state hostPath and NODE_NAME are the test's, and the informational ports are left out) and runs it with `podman kube play` inside a network
 * namespace of its own (hostNetwork: the pod's host network is that namespace; pins under
 * /sys/fs/bpf/latch-pk). A second
 * latchd (this checkout's) in another namespace is its peer: the tunnel comes up, a ping crosses it,
 * the pod's /readyz answers 200. podman and buildah are private to the test (storage, file locks,
 * volumes: test/e2e/helpers/private-podman.ts), so the image is built into the test's own storage
 * and nothing of the machine's podman is used; everything is removed afterwards.
 *
 * Root only; userspace WireGuard (wireguard-go in the image), since this host's kernel has none.
 */
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa, type ResultPromise } from 'execa'
import { parseAllDocuments, stringify } from 'yaml'
import { daemonPkiFiles, initCa, issueNode } from '../../certs/index.js'
import { privatePodman } from '../e2e/helpers/private-podman.js'

const ROOT = join(import.meta.dirname, '..', '..')
const isRoot = process.getuid?.() === 0
const NS_POD = 'latch-pk-pod'
const NS_PEER = 'latch-pk-peer'
const POD_IP = '10.79.0.1'
const PEER_IP = '10.79.0.2'
const POD_NAME = 'latchd-pk'
const PIN_DIR = '/sys/fs/bpf/latch-pk'

async function sh(argv: string[], opts: { env?: Record<string, string> } = {}) {
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, ...opts })
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} (exit ${r.exitCode}):\n${r.stderr}\n${r.stdout}`)
  return r.stdout
}
const inNs = (ns: string, argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv]

async function waitFor(what: string, f: () => Promise<boolean>, tries = 120): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await f().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 1000))
  }
  throw new Error(`${what}: not within ${tries} s`)
}

/**
 * What this test creates outside its temp dir: the namespaces and whatever still runs in them, the
 * pins. Also run first, so that a run killed earlier cannot fail this one.
 */
async function removeLeftovers(): Promise<void> {
  for (const ns of [NS_POD, NS_PEER]) {
    const pids = (await execa('ip', ['netns', 'pids', ns], { reject: false })).stdout
      .split(/\s+/)
      .filter(Boolean)
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {}
    }
    await execa('ip', ['netns', 'del', ns], { reject: false })
  }
  await rm(PIN_DIR, { recursive: true, force: true })
}

test('the image runs the DaemonSet pod spec with podman and latchd in it tunnels to a peer', async (t) => {
  if (!isRoot) {
    t.fail('needs root (podman, network namespaces)')
    return
  }
  t.timeout(30 * 60_000)
  const dir = await mkdtemp(join(tmpdir(), 'latch-image-pod-'))
  let peer: ResultPromise | undefined
  const podYaml = join(dir, 'pod.yaml')
  // podman and buildah private to this test (file locks, storage, volumes; see private-podman.ts)
  const pm = await privatePodman(join(dir, 'podman'))
  await removeLeftovers()
  try {
    // --- the image, into the private storage -------------------------------------------------------
    const args = process.env['LATCH_DEB'] ? ['--deb', process.env['LATCH_DEB']] : []
    const image = (await sh([join(ROOT, 'scripts', 'package-image'), ...args], { env: pm.env }))
      .trim()
      .split('\n')
      .at(-1)!
    t.regex(image, /^localhost\/latch:/)

    // --- PKI, namespaces ---------------------------------------------------------------------------
    const pki = join(dir, 'state', 'pki')
    await initCa({ dir: pki, trustDomain: 'pk.latch' })
    await issueNode({ dir: pki, node: 'podnode', ip: POD_IP, workloadCidrs: ['10.100.1.0/24'] })
    await issueNode({ dir: pki, node: 'peer', ip: PEER_IP, workloadCidrs: ['10.100.2.0/24'] })
    await sh(['ip', 'netns', 'add', NS_POD])
    await sh(['ip', 'netns', 'add', NS_PEER])
    await sh([
      'ip',
      'link',
      'add',
      'latchpk0',
      'netns',
      NS_POD,
      'type',
      'veth',
      'peer',
      'latchpk1',
      'netns',
      NS_PEER,
    ])
    await sh(inNs(NS_POD, ['ip', 'addr', 'add', `${POD_IP}/24`, 'dev', 'latchpk0']))
    await sh(inNs(NS_PEER, ['ip', 'addr', 'add', `${PEER_IP}/24`, 'dev', 'latchpk1']))
    for (const [ns, dev] of [
      [NS_POD, 'latchpk0'],
      [NS_PEER, 'latchpk1'],
    ] as const) {
      await sh(inNs(ns, ['ip', 'link', 'set', dev, 'up']))
      await sh(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']))
    }

    // --- the pod spec: the DaemonSet's template, with the test's node ---------------------------------
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'packaging', 'k8s', 'latch.yaml'), 'utf8')).map(
      (d) => d.toJS(),
    )
    const ds = docs.find((d) => d.kind === 'DaemonSet')
    const cm = docs.find((d) => d.kind === 'ConfigMap')
    const podConfig = {
      node: 'podnode',
      trustDomain: 'pk.latch',
      pki: daemonPkiFiles('/var/lib/latch/pki', 'podnode'),
      listen: { address: POD_IP, port: 7443 },
      workloadCidrs: ['10.100.1.0/24'],
      wireguard: {
        interface: 'latchpkw',
        listenPort: 51820,
        address: '10.101.9.1/32',
        privateKeyFile: '/var/lib/latch/wg.key',
        backend: 'userspace',
      },
      peersFile: '/etc/latch/peers.yaml',
      controlSocket: '/run/latch/latchd.sock',
      datapath: {
        enabled: true,
        pinDir: PIN_DIR,
        identitiesFile: '/var/lib/latch/identities.json',
      },
      metrics: { address: POD_IP, port: 9464 },
    }
    cm.data = {
      'podnode.yaml': stringify(podConfig),
      'peers.yaml': stringify([{ name: 'peer', address: PEER_IP, port: 7443 }]),
      'policy.yaml': cm.data['policy.yaml'],
    }
    const spec = ds.spec.template.spec
    const c = spec.containers[0]
    c.image = image
    c.imagePullPolicy = 'Never'
    // with hostNetwork the ports are informational in Kubernetes; podman 4.3 would turn them into
    // port mappings, which it refuses on the host network
    delete c.ports
    c.env = [{ name: 'NODE_NAME', value: 'podnode' }]
    c.args = ['--config', '/etc/latch/podnode.yaml']
    for (const v of spec.volumes) {
      if (v.name === 'state') v.hostPath.path = join(dir, 'state')
      if (v.name === 'run') v.hostPath.path = join(dir, 'run')
    }
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: POD_NAME, labels: ds.spec.template.metadata.labels },
      spec,
    }
    await writeFile(podYaml, stringify(pod))
    await writeFile(join(dir, 'configmap.yaml'), stringify(cm))
    await mkdir(join(dir, 'run'), { recursive: true })

    // --- the peer: this checkout's latchd in the other namespace ---------------------------------------
    const peerDir = join(dir, 'peer')
    await mkdir(peerDir)
    await writeFile(
      join(peerDir, 'peers.yaml'),
      stringify([{ name: 'podnode', address: POD_IP, port: 7443 }]),
    )
    await writeFile(
      join(peerDir, 'latchd.yaml'),
      stringify({
        node: 'peer',
        trustDomain: 'pk.latch',
        pki: daemonPkiFiles(pki, 'peer'),
        listen: { address: PEER_IP, port: 7443 },
        workloadCidrs: ['10.100.2.0/24'],
        wireguard: {
          interface: 'latchpkv',
          listenPort: 51820,
          address: '10.101.9.2/32',
          privateKeyFile: join(peerDir, 'wg.key'),
          backend: 'userspace',
        },
        peersFile: join(peerDir, 'peers.yaml'),
        controlSocket: join(peerDir, 'latchd.sock'),
        datapath: { enabled: false },
      }),
    )
    peer = execa(
      'ip',
      [
        'netns',
        'exec',
        NS_PEER,
        'node',
        join(ROOT, 'dist', 'daemon', 'latchd.js'),
        '--config',
        join(peerDir, 'latchd.yaml'),
      ],
      {
        reject: false,
        all: true,
      },
    )

    // --- podman kube play in the pod's namespace, on a bpffs of its own ------------------------------
    // nsenter --net (not ip netns exec, which remounts /sys and so hides the cgroup hierarchy):
    // only the network is the namespace's; the pins go to a directory of this test on the bpffs
    const play = await pm.run(['kube', 'play', '--configmap', join(dir, 'configmap.yaml'), podYaml], {
      nsenter: [`--net=/run/netns/${NS_POD}`],
      reject: false,
      // bounded: a wedged podman fails this test with its output instead of hanging the suite
      timeout: 5 * 60_000,
    })
    t.is(
      play.exitCode,
      0,
      `${play.timedOut ? 'podman kube play did not finish within 5 min\n' : ''}${play.all}`,
    )
    const ctr = `${POD_NAME}-latchd`
    const logs = async () => (await pm.run(['logs', ctr], { reject: false })).all
    try {
      await waitFor('latchd in the container started', async () =>
        (await logs()).includes('"event":"started"'),
      )
      await waitFor(
        'the tunnel between the pod and the peer',
        async () =>
          (
            await execa(
              'ip',
              ['netns', 'exec', NS_PEER, 'ping', '-n', '-q', '-c', '1', '-W', '1', '10.101.9.1'],
              { reject: false },
            )
          ).exitCode === 0,
      )
      const ping = await execa(
        'ip',
        ['netns', 'exec', NS_PEER, 'ping', '-n', '-q', '-c', '10', '-i', '0.2', '-W', '1', '10.101.9.1'],
        { reject: false },
      )
      t.regex(ping.stdout, /10 packets transmitted, 10 received/)
      const ready = await execa(
        'ip',
        [
          'netns',
          'exec',
          NS_PEER,
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          `http://${POD_IP}:9464/readyz`,
        ],
        { reject: false },
      )
      t.is(ready.stdout, '200')
      const inspect = JSON.parse((await pm.run(['inspect', ctr])).stdout)[0]
      t.deepEqual(
        [...inspect.EffectiveCaps].sort(),
        ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_SYS_ADMIN'],
        'the container has exactly the DaemonSet capabilities',
      )
      t.true(inspect.HostConfig.ReadonlyRootfs)
      t.true(existsSync(join(dir, 'state', 'identities.json')) || existsSync(join(dir, 'state', 'wg.key')))
    } catch (err) {
      t.log(await logs())
      throw err
    }
  } finally {
    peer?.kill('SIGKILL')
    await pm.run(['kube', 'play', '--down', podYaml], { reject: false })
    await pm.destroy()
    await removeLeftovers()
    await rm(dir, { recursive: true, force: true })
  }
})

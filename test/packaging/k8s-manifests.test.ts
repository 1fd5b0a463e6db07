/**
 * packaging/k8s/latch.yaml against the Kubernetes OpenAPI schema (kubernetes-models: each object's
 * validate() runs the API's JSON schema), plus what latch itself needs of it: the DaemonSet's
 * ConfigMap keys are valid latchd configs and a valid policy, its capabilities are exactly the
 * unit's (packaging/debian/latchd.service), the probes hit the endpoints latchd serves, and the
 * rolling update never runs two latchd on a node.
 */
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { DaemonSet } from 'kubernetes-models/apps/v1'
import { ConfigMap, Namespace, ServiceAccount } from 'kubernetes-models/v1'
import { parseAllDocuments } from 'yaml'
import { parseConfig } from '../../daemon/config/load.js'
import { loadPolicyFile } from '../../daemon/policy/index.js'

const ROOT = join(import.meta.dirname, '..', '..')
const docs = parseAllDocuments(readFileSync(join(ROOT, 'packaging', 'k8s', 'latch.yaml'), 'utf8')).map(
  (d) => d.toJS() as { kind: string; metadata: { name: string } },
)
const byKind = (kind: string) => docs.filter((d) => d.kind === kind)

test('every object validates against the Kubernetes OpenAPI schema', (t) => {
  const models: Record<string, new (o: never) => { validate(): void }> = {
    Namespace,
    ServiceAccount,
    ConfigMap,
    DaemonSet,
  }
  t.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'DaemonSet', 'Namespace', 'ServiceAccount'])
  for (const d of docs) {
    const Model = models[d.kind]!
    t.notThrows(() => new Model(d as never).validate(), `${d.kind} ${d.metadata.name}`)
  }
})

test('the schema check is real: a DaemonSet with a wrong field type is refused', (t) => {
  const ds = structuredClone(byKind('DaemonSet')[0]) as unknown as {
    spec: { template: { spec: { hostNetwork: unknown } } }
  }
  ds.spec.template.spec.hostNetwork = 'yes'
  t.throws(() => new DaemonSet(ds as never).validate())
})

test("the ConfigMap's node configs and policy are what latchd accepts", async (t) => {
  const cm = byKind('ConfigMap')[0] as unknown as { data: Record<string, string> }
  const dir = await mkdtemp(join(tmpdir(), 'latch-k8s-'))
  try {
    const nodes = Object.keys(cm.data).filter((k) => k !== 'peers.yaml' && k !== 'policy.yaml')
    t.true(nodes.length > 0)
    const { parse } = await import('yaml')
    for (const k of nodes) {
      const c = parseConfig(parse(cm.data[k]!), join('/etc/latch', k))
      t.is(`${c.node}.yaml`, k, 'the key is the node name')
      t.is(c.metrics?.address, c.listen.address, 'probes reach the metrics listener on the node address')
      t.is(c.metrics?.port, 9464)
    }
    await writeFile(join(dir, 'policy.yaml'), cm.data['policy.yaml']!)
    await t.notThrowsAsync(loadPolicyFile(join(dir, 'policy.yaml')))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('the pod: host network, the unit capabilities only, probes on /healthz and /readyz, one latchd per node', (t) => {
  const ds = byKind('DaemonSet')[0] as unknown as {
    spec: {
      updateStrategy: { rollingUpdate: { maxSurge: number; maxUnavailable: number } }
      template: { spec: Record<string, never> & { containers: Record<string, never>[] } }
    }
  }
  const pod = ds.spec.template.spec as unknown as {
    hostNetwork: boolean
    containers: Array<{
      securityContext: { privileged: boolean; capabilities: { add: string[]; drop: string[] } }
      readinessProbe: { httpGet: { path: string; port: number } }
      livenessProbe: { httpGet: { path: string; port: number } }
      volumeMounts: Array<{ mountPath: string }>
    }>
  }
  t.true(pod.hostNetwork)
  const c = pod.containers[0]!
  t.false(c.securityContext.privileged)
  t.deepEqual(c.securityContext.capabilities.drop, ['ALL'])
  const unit = readFileSync(join(ROOT, 'packaging', 'debian', 'latchd.service'), 'utf8')
  const unitCaps = /^CapabilityBoundingSet=(.*)$/m
    .exec(unit)![1]!
    .split(/\s+/)
    .map((x) => x.replace(/^CAP_/, ''))
  // measured enough (the unit's comment table): no NET_RAW, no SYS_ADMIN
  t.deepEqual(unitCaps.sort(), ['BPF', 'NET_ADMIN', 'PERFMON'])
  // the pod adds SYS_ADMIN only for the runtime's default seccomp profile (bpf() gated on it)
  t.deepEqual([...c.securityContext.capabilities.add].sort(), [...unitCaps, 'SYS_ADMIN'].sort())
  t.is(c.readinessProbe.httpGet.path, '/readyz')
  t.is(c.livenessProbe.httpGet.path, '/healthz')
  for (const p of ['/sys/fs/bpf', '/var/run/wireguard', '/var/lib/latch', '/etc/latch']) {
    t.true(
      c.volumeMounts.some((m) => m.mountPath === p),
      p,
    )
  }
  t.is(ds.spec.updateStrategy.rollingUpdate.maxSurge, 0)
  t.is(ds.spec.updateStrategy.rollingUpdate.maxUnavailable, 1)
})

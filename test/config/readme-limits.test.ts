/**
 * README "Limits" stays true: its `limits:` block is a valid config block whose every value is the
 * default latchd applies without one.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { parse } from 'yaml'
import { parseConfig } from '../../daemon/config/index.js'

const ROOT = join(import.meta.dirname, '..', '..')

function minimal(): Record<string, unknown> {
  return {
    node: 'node1',
    trustDomain: 'lab.latch',
    pki: {
      caFile: '/pki/ca/root.crt',
      certFile: '/pki/node.crt',
      keyFile: '/pki/node.key',
      intermediateCertFile: '/pki/ca.crt',
      intermediateKeyFile: '/pki/ca.key',
    },
    listen: { address: '10.99.0.11', port: 7443 },
    workloadCidrs: ['10.100.1.0/24'],
    wireguard: {
      interface: 'latch0',
      listenPort: 51820,
      address: '10.101.0.1/32',
      privateKeyFile: '/wg.key',
    },
    peersFile: '/peers.yaml',
    controlSocket: '/latchd.sock',
  }
}

test('the README limits block parses and equals the defaults', async (t) => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('### Limits'))
  const block = /```yaml\n(limits:[\s\S]*?)```/.exec(section)?.[1]
  t.truthy(block, 'README "### Limits" has a ```yaml limits: block')
  const documented = parseConfig({ ...minimal(), ...(parse(block!) as object) }, '/etc/latch/latchd.yaml')
  const defaults = parseConfig(minimal(), '/etc/latch/latchd.yaml')
  t.deepEqual(documented.limits, defaults.limits)
})

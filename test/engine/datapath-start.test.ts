/**
 * latchd's datapath from its config: datapath.conntrack reaches the kernel's config map at start,
 * and its defaults are the programs' built-in LATCH_CT_DEFAULT_* values. Needs root and BPF.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import pino from 'pino'
import { parseConfig } from '../../daemon/config/index.js'
import { Datapath, DEFAULT_CT_TIMEOUTS } from '../../daemon/datapath/index.js'
import { ctTimeoutsOf, startNodeDatapath } from '../../daemon/engine/datapath-start.js'
import { testPinDir } from '../bpf/fixture.js'

function config(datapath: Record<string, unknown>) {
  return parseConfig(
    {
      node: 'node1',
      trustDomain: 'lab.latch',
      pki: {
        caFile: '/a',
        certFile: '/b',
        keyFile: '/c',
        intermediateCertFile: '/d',
        intermediateKeyFile: '/e',
      },
      listen: { address: '10.99.0.11' },
      workloadCidrs: ['10.100.1.0/24'],
      wireguard: { address: '10.101.0.1/32', privateKeyFile: '/k' },
      peersFile: '/p',
      datapath,
    },
    '/etc/latch/latchd.yaml',
  )
}

test('the conntrack defaults of the config are the built-in timeouts of the programs', (t) => {
  t.deepEqual(ctTimeoutsOf(config({}).datapath.conntrack), DEFAULT_CT_TIMEOUTS)
})

test('datapath.conntrack is written to the config map when latchd starts its datapath', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-dp-start-'))
  const pinDir = testPinDir('dp-start')
  Datapath.unpin(pinDir)
  const c = config({
    pinDir,
    identitiesFile: join(dir, 'ids.json'),
    conntrack: { udp: '5m', tcpClosed: '2s', tcpEstablished: '1d' },
  })
  let node: ReturnType<typeof startNodeDatapath> | undefined
  try {
    node = startNodeDatapath(c, pino({ level: 'silent' }))
    const dp = Datapath.openPinned({ pinDir })
    const got = dp.config.get()
    dp.close()
    t.like(got, {
      ...DEFAULT_CT_TIMEOUTS,
      ctUdpNs: 300_000_000_000n,
      ctTcpClosedNs: 2_000_000_000n,
      ctTcpEstablishedNs: 86_400_000_000_000n,
    })
  } finally {
    node?.close()
    Datapath.unpin(pinDir)
    await rm(dir, { recursive: true, force: true })
  }
})

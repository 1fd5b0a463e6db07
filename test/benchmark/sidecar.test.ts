import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { execa } from 'execa'
import { clientProxyConfig, type ProxiedPort, serverProxyConfig } from '../../scripts/benchmark/sidecar.js'

const ports: ProxiedPort[] = [
  { name: 'echo', localPort: 17000, tlsPort: 17443, serverPort: 7000 },
  { name: 'iperf', localPort: 15201, tlsPort: 15443, serverPort: 5201 },
]

const dir = mkdtempSync(join(tmpdir(), 'latch-test-sidecar-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

async function files(): Promise<{ pem: string; caFile: string }> {
  const key = join(dir, 'k.pem')
  const crt = join(dir, 'c.pem')
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    crt,
    '-subj',
    '/CN=latch-test',
    '-days',
    '1',
  ])
  const pem = join(dir, 'svid.pem')
  writeFileSync(pem, readFileSync(crt, 'utf8') + readFileSync(key, 'utf8'))
  return { pem, caFile: crt }
}

test('haproxy accepts the client-side and server-side sidecar configurations', async (t) => {
  const f = await files()
  for (const [name, text] of [
    ['client', clientProxyConfig(ports, '10.100.2.11', f)],
    ['server', serverProxyConfig(ports, '10.100.2.11', f)],
  ] as const) {
    const cfg = join(dir, `${name}.cfg`)
    writeFileSync(cfg, text)
    const r = await execa('haproxy', ['-c', '-f', cfg], { reject: false, all: true })
    t.is(r.exitCode, 0, `${name}: ${r.all}`)
  }
})

test('both sides require TLS 1.3 and verify the peer certificate against the root', (t) => {
  const f = { pem: '/x/svid.pem', caFile: '/x/root.crt' }
  const client = clientProxyConfig(ports, '10.100.2.11', f)
  const server = serverProxyConfig(ports, '10.100.2.11', f)
  t.regex(client, /ssl-default-server-options ssl-min-ver TLSv1\.3/)
  t.regex(server, /ssl-default-bind-options ssl-min-ver TLSv1\.3/)
  t.regex(
    client,
    /server upstream 10\.100\.2\.11:17443 ssl crt \/x\/svid\.pem ca-file \/x\/root\.crt verify required/,
  )
  t.regex(server, /bind 10\.100\.2\.11:15443 ssl crt \/x\/svid\.pem ca-file \/x\/root\.crt verify required/)
  t.regex(client, /bind 127\.0\.0\.1:15201\n/)
  t.regex(server, /server local 127\.0\.0\.1:5201\n/)
})

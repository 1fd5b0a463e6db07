import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { isLatchError, type LatchError } from '../../daemon/base/errors.js'
import { diffPeers, type PeerEntry, parsePeersText, StaticPeers } from '../../daemon/discovery/index.js'

const good = `
- name: node1
  address: 10.99.0.11
- name: node3
  address: 10.99.0.13
  port: 7444
- name: node2
  address: 10.99.0.12
`

test('a peers file parses sorted, with the default port, skipping this node', (t) => {
  const peers = parsePeersText(good, '/p.yaml', 'node1')
  t.deepEqual(peers, [
    { name: 'node2', address: '10.99.0.12', port: 7443 },
    { name: 'node3', address: '10.99.0.13', port: 7444 },
  ])
  t.true(Object.isFrozen(peers))
})

test('removing every peer takes an explicit empty list', (t) => {
  t.deepEqual(parsePeersText('[]', '/p.yaml', 'node1'), [])
  t.deepEqual(parsePeersText('# no peers\n[]\n', '/p.yaml', 'node1'), [])
})

for (const [name, text] of [
  ['an empty file', ''],
  ['only whitespace', '  \n\n'],
  ['only a comment', '# peers\n'],
  ['an explicit null', '~'],
] as const) {
  test(`a peers file with ${name} (a truncated write) is rejected, saying how to remove every peer`, (t) => {
    const err = t.throws(() => parsePeersText(text, '/p.yaml', 'node1'))
    t.true(isLatchError(err, 'LATCH_ERR_CONFIG_INVALID'))
    t.regex(err!.message, /the peers file is empty.*explicit empty list: \[\]/)
  })
}

const bad: Array<[string, string, RegExp]> = [
  ['a map instead of a list', 'node2: 10.99.0.12', /list of/],
  ['a bad address', '- {name: node2, address: 10.99.0}', /\[0\]\.address.*IPv4/],
  ['an unknown key', '- {name: node2, address: 10.99.0.12, weight: 3}', /\[0\]\.weight: unknown key/],
  [
    'a duplicate name',
    '- {name: node2, address: 10.99.0.12}\n- {name: node2, address: 10.99.0.13}',
    /\[1\]\.name.*already listed/,
  ],
  ['a missing address', '- {name: node2}', /\[0\]\.address: is required/],
  ['a bad port', '- {name: node2, address: 10.99.0.12, port: 0}', /\[0\]\.port/],
  ['a bad name', '- {name: Node_2, address: 10.99.0.12}', /\[0\]\.name/],
]
for (const [name, text, message] of bad) {
  test(`a peers file with ${name} is rejected naming the entry`, (t) => {
    const err = t.throws(() => parsePeersText(text, '/p.yaml', 'node1'))
    t.true(isLatchError(err, 'LATCH_ERR_CONFIG_INVALID'))
    t.regex(err!.message, message)
  })
}

test('diffPeers tells added, removed and moved peers apart', (t) => {
  const a: PeerEntry[] = [
    { name: 'node2', address: '10.0.0.2', port: 7443 },
    { name: 'node3', address: '10.0.0.3', port: 7443 },
  ]
  const b: PeerEntry[] = [
    { name: 'node3', address: '10.0.0.33', port: 7443 },
    { name: 'node4', address: '10.0.0.4', port: 7443 },
  ]
  const d = diffPeers(a, b)
  t.deepEqual(
    d.added.map((p) => p.name),
    ['node4'],
  )
  t.deepEqual(
    d.removed.map((p) => p.name),
    ['node2'],
  )
  t.deepEqual(
    d.changed.map((p) => p.name),
    ['node3'],
  )
})

function waitFor<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const until = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = f()
      if (v !== undefined) return resolve(v)
      if (Date.now() > until) return reject(new Error('timed out'))
      setTimeout(tick, 20)
    }
    tick()
  })
}

test('the watcher applies a valid change, rejects an invalid one and keeps the old list', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'latch-peers-'))
  const file = join(dir, 'peers.yaml')
  const changes: Array<readonly PeerEntry[]> = []
  const errors: LatchError[] = []
  const sp = new StaticPeers({
    file,
    self: 'node1',
    debounceMs: 50,
    onChange: (p) => changes.push(p),
    onError: (e) => errors.push(e),
  })
  try {
    await writeFile(file, good)
    t.is((await sp.start()).length, 2)
    // invalid content: rejected, old peers stay
    await writeFile(file, '- {name: node2, address: nope}')
    await waitFor(() => (errors.length > 0 ? true : undefined))
    t.true(isLatchError(errors[0], 'LATCH_ERR_CONFIG_INVALID'))
    t.is(sp.peers.length, 2)
    t.is(changes.length, 0)
    t.regex((sp.status() as { rejected?: { message: string } }).rejected?.message ?? '', /address/)
    // truncated to nothing: rejected like any invalid edit, the list stays
    await writeFile(file, '')
    await waitFor(() => (errors.length > 1 ? true : undefined))
    t.regex(errors[1]!.message, /the peers file is empty/)
    t.is(sp.peers.length, 2)
    t.regex((sp.status() as { rejected?: { message: string } }).rejected?.message ?? '', /empty/)
    // an atomic replacement (write temp + rename), as editors and config management do
    await writeFile(join(dir, 'peers.tmp'), '- {name: node4, address: 10.99.0.14}')
    await rename(join(dir, 'peers.tmp'), file)
    const next = await waitFor(() => changes[0])
    t.deepEqual(
      next.map((p) => p.name),
      ['node4'],
    )
    t.deepEqual(
      sp.peers.map((p) => p.name),
      ['node4'],
    )
    // the same content again: no change reported
    await writeFile(file, '- {name: node4, address: 10.99.0.14}\n')
    await sp.reload()
    t.is(changes.length, 1)
    // a deleted file is an error, not an empty mesh
    await rm(file)
    await waitFor(() => errors.find((e) => e.code === 'LATCH_ERR_CONFIG_MISSING'))
    t.is(sp.peers.length, 1)
  } finally {
    sp.stop()
    await rm(dir, { recursive: true, force: true })
  }
})

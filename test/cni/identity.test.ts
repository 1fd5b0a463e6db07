import test from 'ava'
import { chooseIdentity } from '../../daemon/cni/identity.js'
import { parseCniArgs } from '../../daemon/cni/spec.js'

const args = parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-7f9;TIER=front')
const input = { containerId: 'abc123', args }

test('CNI_ARGS parse into keys and values', (t) => {
  t.is(args.get('K8S_POD_NAMESPACE'), 'shop')
  t.is(args.get('TIER'), 'front')
  t.is(parseCniArgs(undefined).size, 0)
})

test('the selector file is consulted before the inline rules, and the first match wins', (t) => {
  const r = chooseIdentity(
    input,
    [{ namespace: 'shop', name: 'web-*', spiffeId: 'spiffe://td/ns/shop/sa/web' }],
    [{ namespace: 'shop', spiffeId: 'spiffe://td/ns/shop/sa/other' }],
    undefined,
  )
  t.deepEqual(r, { ok: true, spiffeId: 'spiffe://td/ns/shop/sa/web', by: 'selector file rule 1' })
})

test('rules match globs on namespace, name, container id and any CNI_ARGS key', (t) => {
  const rules = [
    { namespace: 'shop', name: 'db-*', spiffeId: 'spiffe://td/ns/shop/sa/db' },
    { args: { TIER: 'fr?nt' }, spiffeId: 'spiffe://td/ns/{namespace}/sa/{args.TIER}' },
  ]
  t.like(chooseIdentity(input, [], rules, undefined), { ok: true, spiffeId: 'spiffe://td/ns/shop/sa/front' })
  t.like(
    chooseIdentity({ ...input, containerId: 'zz' }, [], [{ containerId: 'ab*', spiffeId: 'x' }], undefined),
    {
      ok: false,
    },
  )
})

test('the template applies when no rule matches, only when every placeholder has a value', (t) => {
  t.like(chooseIdentity(input, [], [], 'spiffe://td/ns/{namespace}/sa/{name}'), {
    ok: true,
    spiffeId: 'spiffe://td/ns/shop/sa/web-7f9',
    by: 'identity.template',
  })
  const none = chooseIdentity(
    { containerId: 'c', args: new Map() },
    [],
    [],
    'spiffe://td/ns/{namespace}/sa/{name}',
  )
  t.false(none.ok)
  t.regex(none.ok ? '' : none.message, /needs a value that is missing/)
})

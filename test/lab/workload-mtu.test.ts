import test from 'ava'
import { LAB_TUNNEL_MTU, workloadRouteLine } from '../../daemon/lab/workload-mtu.js'

test('the workload default route with the tunnel MTU keeps the lab gateway and onlink', (t) => {
  t.is(workloadRouteLine(LAB_TUNNEL_MTU), 'route replace default via 169.254.1.1 dev eth0 onlink mtu 1420')
})

test('without an MTU the route is the one the lab builds', (t) => {
  t.is(workloadRouteLine(undefined), 'route replace default via 169.254.1.1 dev eth0 onlink')
})

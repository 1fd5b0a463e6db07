import test from 'ava'
import { labPlan } from '../../daemon/lab/plan.js'
import { underlayRouteLines } from '../../daemon/lab/underlay-routes.js'

test('each node gets a plain route to every other node workload CIDR via that node underlay IP', (t) => {
  const plan = labPlan({ nodes: 3, workloads: 1 })
  t.deepEqual(underlayRouteLines(plan, plan.nodes[0]!, true), [
    'route replace 10.100.2.0/24 via 10.99.0.12 dev eth0',
    'route replace 10.130.0.0/20 via 10.99.0.12 dev eth0',
    'route replace 10.100.3.0/24 via 10.99.0.13 dev eth0',
    'route replace 10.131.0.0/20 via 10.99.0.13 dev eth0',
  ])
  t.deepEqual(underlayRouteLines(plan, plan.nodes[2]!, false), [
    'route del 10.100.1.0/24 via 10.99.0.11 dev eth0',
    'route del 10.129.0.0/20 via 10.99.0.11 dev eth0',
    'route del 10.100.2.0/24 via 10.99.0.12 dev eth0',
    'route del 10.130.0.0/20 via 10.99.0.12 dev eth0',
  ])
})

test('a one-node lab has no underlay routes', (t) => {
  const plan = labPlan({ nodes: 1, workloads: 1 })
  t.deepEqual(underlayRouteLines(plan, plan.nodes[0]!, true), [])
})

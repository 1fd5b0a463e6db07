import test from 'ava'
import { mountsUnder, parseMountinfo } from '../../daemon/lab/mounts.js'

const MOUNTINFO = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
46 27 254:0 /run/latch-lab /run/latch-lab rw,relatime - ext4 /dev/vda rw
84 46 0:4 mnt:[4026532177] /run/latch-lab/node1/mnt rw - nsfs nsfs rw
85 46 0:4 mnt:[4026532178] /run/latch-lab/node10/mnt rw - nsfs nsfs rw
90 27 0:4 net:[4026532199] /run/latch-labx rw shared:2 - nsfs nsfs rw
91 27 0:50 / /mnt/with\\040space rw - tmpfs my\\040tmp rw
`

test('mountinfo lines are parsed, with octal escapes decoded and optional fields skipped', (t) => {
  const m = parseMountinfo(MOUNTINFO)
  t.is(m.length, 6)
  t.like(m[2], {
    id: 84,
    parent: 46,
    root: 'mnt:[4026532177]',
    mountPoint: '/run/latch-lab/node1/mnt',
    fsType: 'nsfs',
  })
  t.like(m[4], { mountPoint: '/run/latch-labx', fsType: 'nsfs', source: 'nsfs' })
  t.like(m[5], { mountPoint: '/mnt/with space', fsType: 'tmpfs', source: 'my tmp' })
})

test('mounts under a dir come deepest first and exclude look-alike siblings', (t) => {
  t.deepEqual(mountsUnder(parseMountinfo(MOUNTINFO), '/run/latch-lab'), [
    '/run/latch-lab/node10/mnt',
    '/run/latch-lab/node1/mnt',
    '/run/latch-lab',
  ])
  t.deepEqual(mountsUnder(parseMountinfo(MOUNTINFO), '/nowhere'), [])
})
